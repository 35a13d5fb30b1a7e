//! Owns secret masking: every byte the tool prints (terminal view, JSON events, logs, child output)
//! passes through a `Redactor` first.
//!
//! Each registered secret is matched in several encodings (raw, base64, hex, percent-encoded,
//! JSON-escaped), and all of them are searched for at once by one Aho-Corasick automaton that
//! reports every occurrence. Occurrences that overlap are merged into one masked region, so that
//! two secrets sharing bytes never leave a fragment of either visible.
//!
//! Base64 is only matched in its standalone form: when a secret is encoded as part of a longer
//! value (for example `base64("user:" + secret)`), its bytes need not start on a 3-byte boundary
//! and the encoded text differs. Masking the standalone encodings is what we promise; callers that
//! build such composite values must register the composite too.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

mod forms;
mod matcher;
#[cfg(test)]
mod tests;

use forms::forms;
use matcher::{Matcher, build, scan};

/// What every masked region is replaced with.
pub(crate) const MASK: &str = "********";

/// Values with fewer characters than this are ignored by [`Redactor::add`]: masking them would
/// mangle ordinary output, and a value that short is not a secret worth the name.
pub(crate) const MIN_SECRET_LEN: usize = 6;

/// A shared set of secrets. Clones share the same set, so a secret added through any clone is
/// masked by every stream, including streams that are already live.
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// The distinct accepted secrets; kept to ignore repeated registrations and to report a count.
    secrets: BTreeSet<String>,
    /// Every byte pattern that is masked: all forms of all secrets, deduplicated.
    patterns: BTreeSet<Vec<u8>>,
    /// The automaton over `patterns`, rebuilt only when a secret is added, so that pushes never pay
    /// for a build.
    matcher: Matcher,
}

impl Redactor {
    /// Creates a redactor with no secrets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret and all its encodings. Values shorter than [`MIN_SECRET_LEN`] characters
    /// are ignored.
    pub fn add(&self, secret: &str) {
        self.add_all([secret]);
    }

    /// Registers several secrets and rebuilds the automaton once, which is cheaper than calling
    /// [`Redactor::add`] for each.
    pub fn add_all<'a>(&self, secrets: impl IntoIterator<Item = &'a str>) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let mut changed = false;
        for secret in secrets {
            if secret.chars().count() < MIN_SECRET_LEN || inner.secrets.contains(secret) {
                continue;
            }
            inner.secrets.insert(secret.to_owned());
            // A secret read from a file often carries a trailing newline that the tool strips
            // before use, so the trimmed value is masked too when it is still long enough to count
            // as a secret.
            let trimmed = secret.trim();
            for value in [secret, trimmed] {
                if value.chars().count() >= MIN_SECRET_LEN {
                    inner.patterns.extend(forms(value));
                }
            }
            changed = true;
        }
        if changed {
            inner.matcher = build(&inner.patterns);
        }
    }

    /// Returns `text` with every registered secret masked.
    pub fn redact(&self, text: &str) -> String {
        // Patterns are valid UTF-8 and so only ever match whole characters of valid UTF-8 text,
        // which keeps the result valid; the lossy fallback only guards that reasoning without a
        // panic.
        String::from_utf8(self.redact_bytes(text.as_bytes()))
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
    }

    /// Returns `bytes` with every registered secret masked.
    pub fn redact_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        scan(&self.matcher(), bytes, 0, true, &mut out);
        out
    }

    /// Starts a stream for output that arrives in chunks, such as a child process's stdout.
    pub fn stream(&self) -> RedactStream {
        RedactStream {
            redactor: self.clone(),
            pending: Vec::new(),
            masked: 0,
        }
    }

    /// Returns whether no secret is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the number of distinct secrets registered.
    pub fn len(&self) -> usize {
        self.read().secrets.len()
    }

    fn matcher(&self) -> Matcher {
        self.read().matcher.clone()
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Redactor {
    /// Shows only how many secrets are registered: a redactor ends up in error reports and logs, so
    /// it must never show one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.len())
            .finish()
    }
}

/// Redacts output that arrives in chunks. It holds back a tail that could be the start of a secret
/// split across writes, so callers must call [`RedactStream::finish`] when the output ends, or that
/// tail is lost.
///
/// Concatenating everything `push` and `finish` return gives exactly what
/// [`Redactor::redact_bytes`] gives for the whole output, however it was split, as long as no
/// secret is added meanwhile. A secret added while the stream is live is masked from the next push
/// on; bytes already returned cannot be taken back.
pub struct RedactStream {
    redactor: Redactor,
    /// Bytes received but not yet returned; at most one byte shorter than the longest pattern after
    /// each push.
    pending: Vec<u8>,
    /// How many leading bytes of `pending` belong to a region whose mask was already returned. They
    /// are kept because a later match starting among them extends that region rather than starting
    /// a new one.
    masked: usize,
}

impl RedactStream {
    /// Takes a chunk and returns the bytes that are safe to emit now. Chunks may split UTF-8
    /// characters, and the returned bytes may then split them too; concatenated, they are whole.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        self.drain(false)
    }

    /// Returns the held-back tail, redacted, and leaves the stream empty and ready for reuse.
    pub fn finish(&mut self) -> Vec<u8> {
        self.drain(true)
    }

    /// Returns how many bytes are held back, waiting to see whether they start a secret.
    pub fn held_back(&self) -> usize {
        self.pending.len()
    }

    fn drain(&mut self, at_end: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pending.len());
        let (consumed, masked) = scan(
            &self.redactor.matcher(),
            &self.pending,
            self.masked,
            at_end,
            &mut out,
        );
        self.pending.drain(..consumed);
        self.masked = masked;
        out
    }
}

impl fmt::Debug for RedactStream {
    /// Shows only the held-back length: the held-back bytes may be the start of a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactStream")
            .field("held_back", &self.pending.len())
            .finish()
    }
}
