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

use aho_corasick::automaton::OverlappingState;
use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

#[cfg(test)]
mod tests;

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

#[derive(Clone, Default)]
enum Matcher {
    /// No secrets are registered, so output passes through untouched and nothing is held back.
    #[default]
    Empty,
    Ready {
        automaton: Arc<AhoCorasick>,
        /// The length of the longest pattern; a stream holds back at most one byte less than this.
        longest: usize,
    },
    /// The automaton could not be built (only possible with an absurd number of patterns).
    /// Redaction then fails closed and masks all output, because printing a secret is worse than
    /// printing nothing useful.
    Broken,
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

/// Writes the redacted form of the decidable prefix of `buf` to `out`, and returns how many bytes
/// of `buf` were consumed and how many bytes after those belong to a mask already written.
///
/// The masked regions are the union of every occurrence of every pattern, overlapping ones merged
/// (adjacent ones stay two masks). One overlapping search reports each occurrence once, in order
/// of where it ends, so the work is linear in `buf` plus the number of occurrences; restarting a
/// leftmost search one byte after each match, as this once did, rescanned a whole match per
/// start and was quadratic for a repetitive secret printed twice in a row.
///
/// `masked` leading bytes of `buf` belong to a mask written earlier. Unless `at_end`, only the
/// bytes before `limit = len - (longest - 1)` are decided: every occurrence still to come ends
/// after `buf` and so starts at or after `limit`. A region reaching past `limit` is masked now and
/// its remainder carried in the returned count; the tail is not consumed, which bounds it by
/// `longest - 1` bytes.
fn scan(
    matcher: &Matcher,
    buf: &[u8],
    masked: usize,
    at_end: bool,
    out: &mut Vec<u8>,
) -> (usize, usize) {
    let (automaton, longest) = match matcher {
        Matcher::Ready { automaton, longest } => (automaton, *longest),
        Matcher::Empty => {
            out.extend_from_slice(buf.get(masked..).unwrap_or_default());
            return (buf.len(), 0);
        }
        Matcher::Broken => {
            if buf.len() > masked {
                out.extend_from_slice(MASK.as_bytes());
            }
            return (buf.len(), 0);
        }
    };
    let limit = if at_end {
        buf.len()
    } else {
        buf.len().saturating_sub(longest.saturating_sub(1))
    };
    // Disjoint regions sorted by start; the first may be the mask carried over from the last call,
    // whose mask is already written. Every later occurrence ends at or after the end of each
    // region it found, so one that overlaps a region overlaps every region after it too: merging
    // pops from the back.
    let mut regions: Vec<(usize, usize)> = Vec::new();
    if masked > 0 {
        regions.push((0, masked));
    }
    let mut state = OverlappingState::start();
    loop {
        automaton.find_overlapping(Input::new(buf), &mut state);
        let Some(found) = state.get_match() else {
            break;
        };
        let (mut start, mut end) = (found.start(), found.end());
        while let Some(&(region_start, region_end)) = regions.last() {
            if region_end <= start {
                break;
            }
            // Only the carried mask can end after an occurrence that overlaps it: one found
            // again inside the tail of the secret whose mask was already written.
            start = start.min(region_start);
            end = end.max(region_end);
            regions.pop();
        }
        regions.push((start, end));
    }
    // Bytes before `cursor` are accounted for: written raw, or covered by a mask already written.
    let mut cursor = 0;
    let mut regions = regions.into_iter();
    if masked > 0 {
        // Merging only moves a start down, so the carried mask is still the first region, at 0.
        cursor = regions.next().map_or(masked, |(_, end)| end);
    }
    for (start, end) in regions {
        if start >= limit {
            // Wholly in the held-back tail: found again, with what follows, by the next call.
            break;
        }
        out.extend_from_slice(&buf[cursor..start]);
        out.extend_from_slice(MASK.as_bytes());
        cursor = end;
    }
    if cursor < limit {
        out.extend_from_slice(&buf[cursor..limit]);
        cursor = limit;
    }
    (limit, cursor - limit)
}

/// The largest product of the patterns' total length and the longest one for which the
/// automaton is a DFA: about what twenty typical secrets in all their forms come to, and a
/// bound on the DFA's build however repetitive they are.
const DFA_BUILD_BUDGET: usize = 1 << 22;

fn build(patterns: &BTreeSet<Vec<u8>>) -> Matcher {
    let Some(longest) = patterns.iter().map(Vec::len).max() else {
        return Matcher::Empty;
    };
    // No prefilter: the patterns are random strings whose "rare" bytes (hex and base64
    // digits) are everywhere in JSON lines and logs, so the prefilter stopped every few bytes
    // and cost more than the plain automaton it was meant to skip.
    // A DFA resolves every failure chain for every state and byte class at build time, and a
    // repetitive pattern's chains are as long as the pattern: that build costs up to the
    // patterns' total length times the longest, and 16,000 repetitive characters took minutes.
    // A DFA is built only while that product is small (typical secrets, searched fastest);
    // otherwise the contiguous NFA follows the chains while searching, amortized linear in the
    // input.
    let total: usize = patterns.iter().map(Vec::len).sum();
    let kind = if total.saturating_mul(longest) <= DFA_BUILD_BUDGET {
        AhoCorasickKind::DFA
    } else {
        AhoCorasickKind::ContiguousNFA
    };
    match AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .kind(Some(kind))
        .prefilter(false)
        .build(patterns)
    {
        Ok(automaton) => Matcher::Ready {
            automaton: Arc::new(automaton),
            longest,
        },
        Err(_) => Matcher::Broken,
    }
}

/// Returns every form in which `secret` may appear in output. Forms equal to the raw value are
/// deduplicated by the caller.
fn forms(secret: &str) -> Vec<Vec<u8>> {
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
