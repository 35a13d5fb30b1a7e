//! Owns the service's encrypted records: `/records/app` and `/records/mfa` open every record
//! of the data file the encryption key protects (`DEMO_DATA_FILE`, `DEMO_MFA_DATA_FILE`), as
//! the API decrypts stored integration credentials and MFA secrets to serve its users.
//!
//! A keyring: a record opens under the current key (`APP_ENCRYPTION_KEY`) or, during a
//! rotation's overlap, the previous one (`APP_ENCRYPTION_KEY_PREVIOUS`), so the re-encryption
//! migration can rewrite the records while the service keeps reading them. The file is read
//! on every request, since the migration replaces it (atomically) while the service runs.
//! Answers hold counts, record ids and a keyed digest of the plaintexts (equal before, during
//! and after a re-encryption), never a plaintext or a key.

use std::path::PathBuf;

use runbook::envfile::EnvFile;
use serde_json::json;

use crate::crypto;
use crate::http::Response;
use crate::sealed::{self, Key, Line};

/// The ids of unreadable records an answer lists at most.
const MAX_IDS: usize = 8;

/// The keys one data file opens under, and where that file is. No `Debug`: it holds keys.
pub(crate) struct Keyring {
    /// The variable of the current key; the previous one is this name with `_PREVIOUS`.
    name: &'static str,
    /// Current key first; `Err` says why there is none (a variable's name, never a value).
    keys: Result<Vec<Key>, String>,
    data: Option<PathBuf>,
}

impl Keyring {
    /// The keyring of `name` (`hex32`: the key is 64 hex characters, as MFA_ENCRYPTION_KEY)
    /// and the data file named by `data_key`, read from the env file at start.
    pub(crate) fn load(env: &EnvFile, name: &'static str, hex32: bool, data_key: &str) -> Keyring {
        let set = |key: &str| env.get(key).filter(|value| !value.is_empty());
        let previous = format!("{name}_PREVIOUS");
        let key = |variable: &str, value: String| {
            Key::from_env_value(value.as_bytes(), hex32)
                .ok_or_else(|| format!("{variable} is not 64 hex characters"))
        };
        let keys = set(name)
            .ok_or_else(|| format!("{name} is not set"))
            .and_then(|current| key(name, current))
            .and_then(|current| {
                let previous = set(&previous).map(|value| key(&previous, value));
                Ok(std::iter::once(current)
                    .chain(previous.transpose()?)
                    .collect())
            });
        Keyring {
            name,
            keys,
            data: set(data_key).map(PathBuf::from),
        }
    }

    /// Opens every record: 200 with their count and digest when each opens under a key of
    /// the ring, else 500 naming the records that do not (an outage for their users).
    pub(crate) fn serve(&self, fingerprint_key: &[u8]) -> Response {
        let Some(data) = &self.data else {
            return Response::error(404, "no data file is configured for these records");
        };
        let keys = match &self.keys {
            Ok(keys) => keys,
            Err(why) => return Response::error(500, why),
        };
        let Ok(text) = std::fs::read_to_string(data) else {
            return Response::error(500, "cannot read the data file");
        };
        let (mut records, mut with_previous) = (0, 0);
        let mut unreadable = Vec::new();
        // The digest covers ids and plaintexts, so a record that opens to another value shows.
        let mut opened = String::new();
        for line in sealed::parse(&text) {
            let record = match line {
                Line::Kept(_) => continue,
                Line::Malformed(_) => {
                    records += 1;
                    unreadable.push("(a malformed line)".to_owned());
                    continue;
                }
                Line::Record(record) => record,
            };
            records += 1;
            match keys
                .iter()
                .enumerate()
                .find_map(|(index, key)| key.open(&record).map(|plaintext| (index, plaintext)))
            {
                Some((index, plaintext)) => {
                    with_previous += usize::from(index > 0);
                    opened.push_str(&format!("{}:{}\n", record.id, hex::encode(plaintext)));
                }
                None => unreadable.push(record.id),
            }
        }
        if !unreadable.is_empty() {
            let message = format!(
                "{} of {records} records open under neither {} nor {}_PREVIOUS",
                unreadable.len(),
                self.name,
                self.name
            );
            unreadable.truncate(MAX_IDS);
            return Response::json(500, json!({ "error": message, "unreadable": unreadable }));
        }
        Response::json(
            200,
            json!({
                "records": records,
                "opened_with_previous": with_previous,
                "digest": crypto::fingerprint(fingerprint_key, &opened),
            }),
        )
    }
}
