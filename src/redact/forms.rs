//! The forms a secret can take in output (raw, base64, hex, percent-encoded, JSON-escaped):
//! every one of them is registered as a pattern, so the matcher needs no idea of encodings.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// Returns every form in which `secret` may appear in output. Forms equal to the raw value are
/// deduplicated by the caller.
pub(super) fn forms(secret: &str) -> Vec<Vec<u8>> {
    let raw = secret.as_bytes();
    vec![
        raw.to_vec(),
        STANDARD.encode(raw).into_bytes(),
        STANDARD_NO_PAD.encode(raw).into_bytes(),
        URL_SAFE.encode(raw).into_bytes(),
        URL_SAFE_NO_PAD.encode(raw).into_bytes(),
        hex::encode(raw).into_bytes(),
        hex::encode_upper(raw).into_bytes(),
        // Strict percent-encoding, as PHP's `rawurlencode` or Python's `quote(safe="-_.~")`
        // produce, in both digit cases.
        percent_encode(raw, b"", UPPER_HEX, false),
        percent_encode(raw, b"", LOWER_HEX, false),
        // JavaScript's `encodeURIComponent` leaves these five characters alone.
        percent_encode(raw, b"!'()*", UPPER_HEX, false),
        // Form encoding (`application/x-www-form-urlencoded`, Python's `quote_plus`) writes a space
        // as `+`.
        percent_encode(raw, b"", UPPER_HEX, true),
        json_escape(secret).into_bytes(),
    ]
}

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";
const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";

/// Percent-encodes every byte outside `A-Za-z0-9-_.~` and `keep`, writing a space as `+` when
/// `plus_for_space` is set.
fn percent_encode(raw: &[u8], keep: &[u8], digits: &[u8; 16], plus_for_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() * 3);
    for &byte in raw {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) || keep.contains(&byte) {
            out.push(byte);
        } else if byte == b' ' && plus_for_space {
            out.push(b'+');
        } else {
            out.extend([
                b'%',
                digits[usize::from(byte >> 4)],
                digits[usize::from(byte & 0xf)],
            ]);
        }
    }
    out
}

/// Escapes `secret` as it appears inside a JSON string written by `serde_json` or `JSON.stringify`.
fn json_escape(secret: &str) -> String {
    let mut out = String::with_capacity(secret.len() + 2);
    for ch in secret.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ch if ch < ' ' => out.push_str(&format!("\\u{:04x}", u32::from(ch))),
            ch => out.push(ch),
        }
    }
    out
}
