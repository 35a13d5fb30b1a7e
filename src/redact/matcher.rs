//! The automaton over every pattern, and the scan that masks what it finds: the one place that
//! decides which bytes of output are masked, for whole texts and for streams alike.

use std::collections::BTreeSet;
use std::sync::Arc;

use aho_corasick::automaton::OverlappingState;
use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};

use super::MASK;

#[derive(Clone, Default)]
pub(super) enum Matcher {
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
pub(super) fn scan(
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

pub(super) fn build(patterns: &BTreeSet<Vec<u8>>) -> Matcher {
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
