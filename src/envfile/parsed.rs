//! Env files already parsed, kept for the steps that edit them: preflight reads and parses
//! every file a run edits (to check its keys and read the current values), and the edit reads
//! the file again under its lock. When the bytes are still the same, the edit takes the parse
//! instead of repeating it — most of the CPU of a one-step edit of a 1,000-line file.

use std::sync::{Mutex, PoisonError};

use super::EnvFile;

/// Parsed files, found by their exact bytes (not their path: preflight names a file as the
/// runbook does, the edit by where its symlinks lead).
#[derive(Default)]
pub(crate) struct Parsed {
    files: Mutex<Vec<EnvFile>>,
}

impl Parsed {
    pub(crate) fn keep(&self, files: impl IntoIterator<Item = EnvFile>) {
        self.files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(files);
    }

    /// The parse of exactly `bytes`, if one was kept; taken, since the edit changes it. A file
    /// that changed since preflight (an earlier step's edit, another program) has other bytes,
    /// so it is parsed again.
    pub(crate) fn take(&self, bytes: &[u8]) -> Option<EnvFile> {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let found = files.iter().position(|f| f.source.as_bytes() == bytes)?;
        Some(files.swap_remove(found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_bytes_find_a_kept_parse_and_only_once() {
        let parsed = Parsed::default();
        parsed.keep([EnvFile::parse(b"A=1\n").unwrap()]);
        assert!(parsed.take(b"A=2\n").is_none());
        let file = parsed.take(b"A=1\n").unwrap();
        assert_eq!(file.get("A").as_deref(), Some("1"));
        assert!(parsed.take(b"A=1\n").is_none());
    }
}
