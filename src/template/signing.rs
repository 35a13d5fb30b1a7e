//! Filters that sign with a key, so a verify step can prove the service accepts the new key
//! and refuses the old one: `jwt_hs256(key)` makes an HS256 JWT of a claims map (or its JSON
//! text), with `iat` and a five-minute `exp` unless given; `signed_cookie(key)` signs a value
//! the way Express's `cookie-signature` does (`s:VALUE.SIGNATURE`).
//!
//! What they return is a live credential: rendered during a run it is registered with the
//! redactor (see `template::environment_redacting`), and the checker treats it as secret
//! because it reads the key.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use minijinja::{Error, Value};

use super::scram::hmac;

/// A verification token should not outlive the check it serves.
const TOKEN_LIFETIME_SECS: u64 = 300;

pub(super) fn jwt_hs256(claims: &Value, key: &str) -> Result<String, Error> {
    let mut claims: serde_json::Map<String, serde_json::Value> = match claims.as_str() {
        Some(text) => serde_json::from_str(text),
        None => serde_json::to_value(claims).and_then(serde_json::from_value),
    }
    .map_err(|_| super::filter_error("jwt_hs256: the claims are not a JSON object"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    claims.entry("iat").or_insert(now.into());
    claims
        .entry("exp")
        .or_insert((now + TOKEN_LIFETIME_SECS).into());
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::Value::Object(claims).to_string())
    );
    let signature = URL_SAFE_NO_PAD.encode(hmac(key.as_bytes(), signing_input.as_bytes()));
    Ok(format!("{signing_input}.{signature}"))
}

pub(super) fn signed_cookie(value: &str, key: &str) -> String {
    let signature = STANDARD_NO_PAD.encode(hmac(key.as_bytes(), value.as_bytes()));
    format!("s:{value}.{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7515 appendix A.1's key and signing input are not reusable here (its claims are
    /// fixed text), so the signature is checked against an independent HMAC of the input.
    #[test]
    fn a_jwt_is_header_claims_and_the_hmac_of_both() {
        let claims = crate::template::value_of(serde_json::json!({ "sub": "runbook", "exp": 1 }));
        let token = jwt_hs256(&claims, "key-1").unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = URL_SAFE_NO_PAD.decode(parts[0]).unwrap();
        assert_eq!(header, br#"{"alg":"HS256","typ":"JWT"}"#);
        let body: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(body["sub"], "runbook");
        assert_eq!(body["exp"], 1, "a given exp is kept");
        assert!(body["iat"].as_u64().unwrap() > 1_700_000_000);
        let input = format!("{}.{}", parts[0], parts[1]);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            hmac(b"key-1", input.as_bytes())
        );
        let text = jwt_hs256(&Value::from(r#"{"sub":"x"}"#), "k").unwrap();
        assert_eq!(text.split('.').count(), 3);
        assert!(jwt_hs256(&Value::from("[1]"), "k").is_err());
    }

    /// The example of Express's cookie-signature: sign("hello", "tobiiscool").
    #[test]
    fn a_signed_cookie_matches_cookie_signature() {
        assert_eq!(
            signed_cookie("hello", "tobiiscool"),
            "s:hello.DGDUkGlIkCzPz+C0B064FNgHdEjox7ch8tOBGslZ5QI"
        );
    }
}
