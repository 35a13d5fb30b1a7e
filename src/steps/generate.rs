//! `generate`: a value from the OS CSPRNG, always one line, never starting with `-`, never
//! containing `$` (Docker Compose would interpolate it and silently truncate the value).

use crate::failure::ErrorKind;
use base64::Engine;
use rand::TryRng;
use rand::rngs::SysRng;

use super::StepError;
use super::{Done, StepRun};
use crate::model::{Charset, Encoding, GenerateSpec};

pub(super) fn run(run: &StepRun, spec: &GenerateSpec) -> Result<Done, StepError> {
    let value = generate(spec)?;
    // Registered before anything else can see it, so no later output can show it.
    run.ctx.redactor.add(&value);
    Ok(Done {
        outputs: crate::template::value_of(std::collections::BTreeMap::from([("value", value)])),
        compensation: None,
    })
}

pub(super) fn generate(spec: &GenerateSpec) -> Result<String, StepError> {
    // A leading `-` would be read as an option by the many tools a secret is passed to;
    // drawing again is cheaper than teaching every caller to write `--`.
    for _ in 0..64 {
        let value = draw(spec)?;
        if !value.starts_with('-') {
            return Ok(value);
        }
    }
    Err(StepError::new(
        ErrorKind::Io,
        "could not draw a value that does not start with `-`",
    ))
}

fn fill(bytes: &mut [u8]) -> Result<(), StepError> {
    SysRng.try_fill_bytes(bytes).map_err(|e| {
        StepError::new(
            ErrorKind::Io,
            format!("the OS random number generator failed: {e}"),
        )
    })
}

fn draw(spec: &GenerateSpec) -> Result<String, StepError> {
    match (spec.bytes, spec.encoding, spec.length, spec.charset) {
        (Some(n), Some(encoding), _, _) => {
            let mut bytes = vec![0u8; n as usize];
            fill(&mut bytes)?;
            Ok(match encoding {
                Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(&bytes),
                Encoding::Base64url => {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes)
                }
                Encoding::Hex => hex::encode(&bytes),
            })
        }
        (_, _, Some(n), Some(charset)) => {
            let alphabet = alphabet(charset);
            let mut out = String::with_capacity(n as usize);
            let mut pool = [0u8; 64];
            // Rejection sampling keeps every character equally likely.
            let limit = 256 - (256 % alphabet.len());
            while out.len() < n as usize {
                fill(&mut pool)?;
                for &b in &pool {
                    if (b as usize) < limit && out.len() < n as usize {
                        out.push(char::from(alphabet[b as usize % alphabet.len()]));
                    }
                }
            }
            Ok(out)
        }
        _ => Err(StepError::new(
            ErrorKind::Bug,
            "`generate` needs `bytes` + `encoding` or `length` + `charset`",
        )),
    }
}

fn alphabet(charset: Charset) -> &'static [u8] {
    match charset {
        Charset::Alnum => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        Charset::Lower => b"abcdefghijklmnopqrstuvwxyz0123456789",
        Charset::Hex => b"0123456789abcdef",
        Charset::Digits => b"0123456789",
        // No space, quotes, backslash, `$`, `#` or backtick: each breaks a .env file, a shell
        // or a URL somewhere in a deployment.
        Charset::Symbols => {
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!%*+,-./:;<=>?@^_~"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(
        bytes: Option<u32>,
        encoding: Option<Encoding>,
        length: Option<u32>,
        charset: Option<Charset>,
    ) -> GenerateSpec {
        GenerateSpec {
            bytes,
            encoding,
            length,
            charset,
        }
    }

    #[test]
    fn base64_of_64_bytes_is_one_line_without_dollar() {
        for _ in 0..200 {
            let v = generate(&spec(Some(64), Some(Encoding::Base64), None, None)).unwrap();
            assert_eq!(v.len(), 88);
            assert!(!v.contains('\n') && !v.contains('$') && !v.starts_with('-'));
        }
    }

    #[test]
    fn charset_values_have_the_length_and_alphabet_asked_for() {
        let v = generate(&spec(None, None, Some(32), Some(Charset::Alnum))).unwrap();
        assert_eq!(v.len(), 32);
        assert!(v.bytes().all(|b| b.is_ascii_alphanumeric()));
        let h = generate(&spec(None, None, Some(64), Some(Charset::Hex))).unwrap();
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let s = generate(&spec(None, None, Some(200), Some(Charset::Symbols))).unwrap();
        assert!(!s.starts_with('-') && !s.contains(['$', '"', '\'', ' ', '#', '\\', '`']));
    }

    #[test]
    fn base64url_never_starts_with_a_dash() {
        for _ in 0..500 {
            let v = generate(&spec(Some(8), Some(Encoding::Base64url), None, None)).unwrap();
            assert!(!v.starts_with('-'));
        }
    }

    #[test]
    fn two_draws_differ() {
        let a = generate(&spec(Some(32), Some(Encoding::Hex), None, None)).unwrap();
        let b = generate(&spec(Some(32), Some(Encoding::Hex), None, None)).unwrap();
        assert_ne!(a, b);
    }
}
