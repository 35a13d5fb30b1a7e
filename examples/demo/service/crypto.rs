//! Owns the demo service's HMAC uses: HS256 JWTs and keyed fingerprints of secrets.
//!
//! Both are HMAC-SHA256, so a rotation can be verified from outside without the value ever
//! leaving the process: an old token stops verifying, and a fingerprint changes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The only header this service issues or accepts; pinning it rejects `alg: none` and friends.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (long keys are hashed), so this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// First 16 hex characters of HMAC-SHA256(key, value): enough to tell values apart, useless
/// for recovering them, and stable across restarts only while the value is unchanged.
pub(crate) fn fingerprint(key: &[u8], value: &str) -> String {
    let mut mac = mac(key);
    mac.update(value.as_bytes());
    let digest = mac.finalize().into_bytes();
    hex::encode(&digest[..8])
}

/// Issues `{"sub": subject, "iat": issued_at}` signed with `secret`.
pub(crate) fn sign(secret: &[u8], subject: &str, issued_at: u64) -> String {
    let claims = serde_json::json!({ "sub": subject, "iat": issued_at });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Returns the token's `sub` when its signature verifies under `secret`, else `None`.
///
/// The comparison is constant-time (`verify_slice`), and the header must be exactly HS256 so
/// a token cannot choose a weaker algorithm.
pub(crate) fn verify(secret: &[u8], token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let mut mac = mac(secret);
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(claims.as_bytes());
    mac.verify_slice(&signature).ok()?;
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header.get("alg")?.as_str()? != "HS256" {
        return None;
    }
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
    Some(claims.get("sub")?.as_str()?.to_owned())
}

/// Returns the value of an Express-style signed cookie (`s:VALUE.SIGNATURE`, the signature
/// HMAC-SHA256 of VALUE, base64 without padding) when it verifies under `secret`.
pub(crate) fn verify_cookie(secret: &[u8], cookie: &str) -> Option<String> {
    let (value, signature) = cookie.strip_prefix("s:")?.rsplit_once('.')?;
    let signature = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(signature)
        .ok()?;
    let mut mac = mac(secret);
    mac.update(value.as_bytes());
    mac.verify_slice(&signature).ok()?;
    Some(value.to_owned())
}
