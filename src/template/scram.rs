//! The `scram_sha256` filter: a PostgreSQL SCRAM-SHA-256 verifier (RFC 5802 and 7677) computed
//! here, so `ALTER ROLE ... PASSWORD` sends the verifier and the clear password never reaches
//! the server, its statement log or `pg_stat_activity`.
//!
//! The verifier is still secret-derived: StoredKey and ServerKey let whoever holds them try
//! passwords offline, and ServerKey lets them impersonate the server. Rendered during a run,
//! the verifier is registered with the redactor (see `template::environment_redacting`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use minijinja::Error;
use rand::TryRng;
use sha2::{Digest, Sha256};

/// What PostgreSQL's own client (`\password`, libpq's `PQencryptPasswordConn`) uses.
pub(super) const ITERATIONS: u32 = 4096;
/// PostgreSQL's default salt length.
const SALT_LEN: usize = 16;

/// `SCRAM-SHA-256$<iterations>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>`.
pub(super) fn verifier(password: &str, salt: &[u8], iterations: u32) -> String {
    let (stored_key, server_key) = keys(password, salt, iterations);
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}

/// StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword,
/// "Server Key"), SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations).
pub(super) fn keys(password: &str, salt: &[u8], iterations: u32) -> ([u8; 32], [u8; 32]) {
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    (stored_key, hmac(&salted, b"Server Key"))
}

pub(super) fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .expect("HMAC takes a key of any length; this is a bug");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The filter: a fresh random salt each time, as `\password` does.
pub(super) fn filter(password: &str) -> Result<String, Error> {
    // PostgreSQL SASLprep-normalises a non-ASCII password before hashing it (NFKC, mapped
    // spaces); computing that here would need Unicode tables, and a verifier that differs from
    // the server's would lock the role out. ASCII is taken as is by both sides.
    if !password.is_ascii() {
        return Err(super::filter_error(
            "scram_sha256: only ASCII passwords are supported (PostgreSQL normalises others with SASLprep)",
        ));
    }
    let mut salt = [0u8; SALT_LEN];
    rand::rngs::SysRng
        .try_fill_bytes(&mut salt)
        .map_err(|_| super::filter_error("scram_sha256: the OS random number generator failed"))?;
    Ok(verifier(password, &salt, ITERATIONS))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: user "user", password "pencil". The exchange's proofs check the
    /// keys: the server signature is HMAC(ServerKey, AuthMessage), and the client proof XOR
    /// HMAC(StoredKey, AuthMessage) is the ClientKey, whose hash is StoredKey.
    #[test]
    fn keys_match_the_rfc_7677_exchange() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let (stored_key, server_key) = keys("pencil", &salt, 4096);
        let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let auth_message = format!(
            "n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={nonce}"
        );
        assert_eq!(
            STANDARD.encode(hmac(&server_key, auth_message.as_bytes())),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let proof = STANDARD
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        assert_eq!(<[u8; 32]>::from(Sha256::digest(&client_key)), stored_key);
    }

    #[test]
    fn the_filter_salts_afresh_and_has_postgres_form() {
        let a = filter("pencil").unwrap();
        let b = filter("pencil").unwrap();
        assert_ne!(a, b, "a fresh salt each time");
        let (head, keys) = a.split_once('$').unwrap().1.split_once('$').unwrap();
        let (iterations, salt) = head.split_once(':').unwrap();
        assert_eq!(iterations, "4096");
        assert_eq!(STANDARD.decode(salt).unwrap().len(), SALT_LEN);
        let salt = STANDARD.decode(salt).unwrap();
        assert_eq!(a, verifier("pencil", &salt, 4096));
        assert_eq!(keys.split(':').count(), 2);
        assert!(!a.contains("pencil"));
    }

    #[test]
    fn a_non_ascii_password_is_refused_without_the_value() {
        let err = filter("pässword").unwrap_err();
        let err = crate::template::TemplateError::from_minijinja(&err);
        assert!(err.message.contains("only ASCII"), "{}", err.message);
        assert!(!err.message.contains("pässword"));
    }
}
