//! Keyed fingerprints: HMAC-SHA256 with a per-install key, so a fingerprint in a report or
//! the audit log identifies a value without letting anyone test guesses against it.

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const KEY_FILE: &str = "fingerprint.key";

/// The install's fingerprint key, created (0600) on first use.
pub(crate) fn install_key(state_dir: &Path) -> std::io::Result<Vec<u8>> {
    let path = state_dir.join(KEY_FILE);
    match std::fs::read(&path) {
        Ok(key) if key.len() >= 32 => return Ok(key),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            ));
        }
    }
    crate::state::ensure_dir(state_dir)?;
    let mut key = vec![0u8; 32];
    rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut key).map_err(|e| {
        std::io::Error::other(format!("the OS random number generator failed: {e}"))
    })?;
    crate::atomic::write_atomic(&path, &key, Some(0o600))?;
    Ok(key)
}

/// The first 16 hex digits of HMAC-SHA256(key, value).
pub(crate) fn fingerprint(key: &[u8], value: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(value.as_bytes());
    let digest = mac.finalize().into_bytes();
    hex::encode(&digest[..8])
}

/// The keyed fingerprint of the value `name` has in the env file `bytes`, if it has one.
pub(crate) fn of_env_value(bytes: Vec<u8>, name: &str, key: &[u8]) -> Option<String> {
    let value = crate::envfile::EnvFile::parse_owned(bytes)
        .ok()?
        .get(name)?;
    Some(fingerprint(key, &value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_depend_on_the_key() {
        assert_ne!(
            fingerprint(b"key-one", "value"),
            fingerprint(b"key-two", "value")
        );
        assert_eq!(
            fingerprint(b"key-one", "value"),
            fingerprint(b"key-one", "value")
        );
        assert_eq!(fingerprint(b"k", "v").len(), 16);
    }
}
