//! Owns the demo's sealed records: the data file the encryption keys protect, shared by
//! `demo-migrate` (which re-encrypts it) and `demo-service` (which reads it with its keyring).
//!
//! The data file holds one JSON record a line (`#` comments and blank lines are kept as they
//! are), each value sealed under a key with a small authenticated scheme built from
//! HMAC-SHA256: a random nonce, an HMAC keystream XORed over the plaintext, then an HMAC tag
//! over the record id, the nonce and the ciphertext (encrypt-then-MAC). Opening a record with
//! the wrong key is detected by the tag, never silently garbled. A toy for the demo, not a
//! cipher to reuse.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const NONCE_LEN: usize = 16;

/// One line of the data file: a sealed value, hex-encoded.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Record {
    pub id: String,
    nonce: String,
    ciphertext: String,
    tag: String,
}

pub(crate) enum Line {
    /// A comment or blank line, written back verbatim.
    Kept(String),
    Record(Record),
    /// Not a record: reported as an error by every reader, and never rewritten.
    Malformed(String),
}

/// A key split into independent encryption and authentication subkeys, so the keystream and
/// the tag never use the same HMAC key. No `Debug`: it is key material.
pub(crate) struct Key {
    enc: Vec<u8>,
    mac: Vec<u8>,
}

fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (long keys are hashed), so this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn derive(key: &[u8], label: &[u8]) -> Vec<u8> {
    let mut mac = hmac(key);
    mac.update(label);
    mac.finalize().into_bytes().to_vec()
}

impl Key {
    /// The key as an environment variable holds it. With `hex32` (MFA_ENCRYPTION_KEY, which
    /// the platform decodes from hex as a 32-byte AES key) a value the real API would refuse
    /// is refused here too; `None` then, and the caller names the variable, never the value.
    pub(crate) fn from_env_value(raw: &[u8], hex32: bool) -> Option<Key> {
        if !hex32 {
            return Some(Key::new(raw));
        }
        match hex::decode(raw) {
            Ok(bytes) if bytes.len() == 32 => Some(Key::new(&bytes)),
            _ => None,
        }
    }

    fn new(raw: &[u8]) -> Key {
        Key {
            enc: derive(raw, b"demo-migrate/encrypt"),
            mac: derive(raw, b"demo-migrate/authenticate"),
        }
    }

    /// XORs the keystream HMAC(enc, nonce || counter) over `data`; its own inverse.
    fn xor_keystream(&self, nonce: &[u8], data: &mut [u8]) {
        for (counter, chunk) in (0u32..).zip(data.chunks_mut(32)) {
            let mut mac = hmac(&self.enc);
            mac.update(nonce);
            mac.update(&counter.to_be_bytes());
            let block = mac.finalize().into_bytes();
            chunk
                .iter_mut()
                .zip(block.iter())
                .for_each(|(b, k)| *b ^= k);
        }
    }

    /// The tag binds the record id too, so a sealed value cannot be moved to another record.
    fn tagger(&self, id: &str, nonce: &[u8], ciphertext: &[u8]) -> HmacSha256 {
        let mut mac = hmac(&self.mac);
        mac.update(&(id.len() as u64).to_be_bytes());
        mac.update(id.as_bytes());
        mac.update(nonce);
        mac.update(ciphertext);
        mac
    }

    pub(crate) fn seal(&self, id: &str, plaintext: &[u8]) -> Result<Record, String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut nonce)
            .map_err(|e| format!("the system random generator failed: {e}"))?;
        let mut ciphertext = plaintext.to_vec();
        self.xor_keystream(&nonce, &mut ciphertext);
        let tag = self.tagger(id, &nonce, &ciphertext).finalize().into_bytes();
        Ok(Record {
            id: id.to_owned(),
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(&ciphertext),
            tag: hex::encode(tag),
        })
    }

    /// The plaintext when the record is intact and sealed under this key, else `None`.
    pub(crate) fn open(&self, record: &Record) -> Option<Vec<u8>> {
        let nonce = hex::decode(&record.nonce).ok()?;
        let mut data = hex::decode(&record.ciphertext).ok()?;
        let tag = hex::decode(&record.tag).ok()?;
        if nonce.len() != NONCE_LEN {
            return None;
        }
        // Constant-time comparison: the tag is checked before anything is decrypted.
        self.tagger(&record.id, &nonce, &data)
            .verify_slice(&tag)
            .ok()?;
        self.xor_keystream(&nonce, &mut data);
        Some(data)
    }
}

pub(crate) fn parse(text: &str) -> Vec<Line> {
    text.lines()
        .map(|line| {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                return Line::Kept(line.to_owned());
            }
            // serde's message could quote the line, a sealed value; say only what is wrong.
            match serde_json::from_str::<Record>(line) {
                Ok(record) => Line::Record(record),
                Err(_) => Line::Malformed("not a record {id, nonce, ciphertext, tag}".to_owned()),
            }
        })
        .collect()
}

pub(crate) fn render(lines: &[Line]) -> Result<String, String> {
    let mut out = String::new();
    for line in lines {
        match line {
            Line::Kept(text) => out.push_str(text),
            Line::Record(record) => out.push_str(
                &serde_json::to_string(record).map_err(|e| format!("cannot encode: {e}"))?,
            ),
            // Unreachable in a write (errors block it), but never lose a line if it were.
            Line::Malformed(_) => return Err("refusing to rewrite a malformed line".to_owned()),
        }
        out.push('\n');
    }
    Ok(out)
}
