//! Unit tests of the redactor: each encoding, stream splits, overlaps and the held-back bound.

use super::*;

/// A secret whose encodings all differ from each other: its base64 is padded and differs between
/// the standard and URL-safe alphabets, its hex has letters, and it needs both percent-encoding and
/// JSON escaping.
const SECRET: &str = "Tr0ub4dor&3 \"ok\\???";

/// Secrets that exercise prefixes, overlaps, self-overlap and multibyte characters in the property
/// tests.
const MIXED: &[&str] = &[
    "hunter22",
    "hunter22-extended",
    // Inside the one above, ending before it: found again inside a mask already written.
    "nter22-exte",
    "abcdefgh",
    "efghijkl",
    "aaaaaa",
    "pässwört",
    SECRET,
];

fn redactor_with(secrets: &[&str]) -> Redactor {
    let redactor = Redactor::new();
    for secret in secrets {
        redactor.add(secret);
    }
    redactor
}

fn assert_form_masked(form: &str) {
    let redactor = redactor_with(&[SECRET]);
    assert_eq!(
        redactor.redact(&format!("before {form} after")),
        format!("before {MASK} after"),
        "form {form:?} was not masked"
    );
}

/// Feeds `chunks` to a fresh stream and returns everything it emitted, checking after each push
/// that the held-back tail stays shorter than the longest pattern.
fn stream_in_chunks(redactor: &Redactor, chunks: &[&[u8]]) -> Vec<u8> {
    let longest = longest_pattern(redactor);
    let mut stream = redactor.stream();
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend(stream.push(chunk));
        assert!(
            stream.held_back() < longest.max(1),
            "held back {} bytes with longest pattern {longest}",
            stream.held_back()
        );
    }
    out.extend(stream.finish());
    assert_eq!(stream.held_back(), 0);
    out
}

fn longest_pattern(redactor: &Redactor) -> usize {
    let inner = redactor.read();
    inner.patterns.iter().map(Vec::len).max().unwrap_or(0)
}

/// Masks by brute force: finds every occurrence of every form, and replaces each run of overlapping
/// occurrences with one mask. It shares no matching code with the redactor, so it checks the
/// automaton-driven scan.
fn reference(secrets: &[&str], input: &[u8]) -> Vec<u8> {
    let patterns: Vec<Vec<u8>> = secrets
        .iter()
        .flat_map(|secret| [*secret, secret.trim()])
        .filter(|value| value.chars().count() >= MIN_SECRET_LEN)
        .flat_map(forms)
        .collect();
    let mut found = Vec::new();
    for start in 0..input.len() {
        for pattern in &patterns {
            if input[start..].starts_with(pattern) {
                found.push((start, start + pattern.len()));
            }
        }
    }
    found.sort_unstable();
    let (mut out, mut cursor) = (Vec::new(), 0);
    for (start, end) in found {
        if start < cursor {
            cursor = cursor.max(end);
        } else {
            out.extend_from_slice(&input[cursor..start]);
            out.extend_from_slice(MASK.as_bytes());
            cursor = end;
        }
    }
    out.extend_from_slice(&input[cursor..]);
    out
}

/// A small deterministic generator, so property tests need no extra crate and always test the same
/// cases.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(self.0 >> 33).unwrap() % bound
    }
}

/// Builds text from fragments of the mixed secrets and their encodings, so that prefixes, overlaps
/// and near misses are common.
fn random_text(rng: &mut Lcg, pieces: usize) -> Vec<u8> {
    const FRAGMENTS: &[&str] = &[
        "hunter2",
        "hunter22",
        "-extended",
        "-ext",
        "abcd",
        "efgh",
        "ijkl",
        "a",
        "aaa",
        " ",
        "\n",
        "é",
        "pässw",
        "ört",
        "YWFhYWFh",
        "616161",
        "Tr0ub4dor&3 ",
        "\"ok\\???",
        "\\\"ok\\\\???",
        "VHIwdWI0ZG9yJjMgIm9rXD8",
        "/Pw==",
        "_Pw",
    ];
    let mut text = Vec::new();
    for _ in 0..pieces {
        text.extend_from_slice(FRAGMENTS[rng.below(FRAGMENTS.len())].as_bytes());
    }
    text
}

#[test]
fn raw_secret_is_masked() {
    assert_form_masked(SECRET);
}

#[test]
fn standard_base64_is_masked_with_and_without_padding() {
    assert_form_masked("VHIwdWI0ZG9yJjMgIm9rXD8/Pw==");
    assert_form_masked("VHIwdWI0ZG9yJjMgIm9rXD8/Pw");
}

#[test]
fn url_safe_base64_is_masked_with_and_without_padding() {
    assert_form_masked("VHIwdWI0ZG9yJjMgIm9rXD8_Pw==");
    assert_form_masked("VHIwdWI0ZG9yJjMgIm9rXD8_Pw");
}

#[test]
fn hex_is_masked_in_both_cases() {
    assert_form_masked("547230756234646f72263320226f6b5c3f3f3f");
    assert_form_masked("547230756234646F72263320226F6B5C3F3F3F");
}

#[test]
fn percent_encoding_is_masked_with_upper_and_lower_case_digits() {
    assert_form_masked("Tr0ub4dor%263%20%22ok%5C%3F%3F%3F");
    assert_form_masked("Tr0ub4dor%263%20%22ok%5c%3f%3f%3f");
}

#[test]
fn form_encoding_and_encode_uri_component_are_masked() {
    assert_form_masked("Tr0ub4dor%263+%22ok%5C%3F%3F%3F");
    let redactor = redactor_with(&["it's (not)*!"]);
    assert_eq!(
        redactor.redact("q=it's%20(not)*!&r=1"),
        format!("q={MASK}&r=1")
    );
}

#[test]
fn json_escaped_secret_is_masked() {
    let redactor = redactor_with(&[SECRET, "line one\nline two\u{1}"]);
    assert_eq!(
        redactor.redact(r#"{"a":"Tr0ub4dor&3 \"ok\\???","b":"line one\nline two\u0001"}"#),
        format!(r#"{{"a":"{MASK}","b":"{MASK}"}}"#)
    );
}

#[test]
fn secret_split_across_two_writes_is_masked_at_every_offset() {
    let redactor = redactor_with(&[SECRET]);
    // The hex form is the longest pattern, so it also proves the held-back tail is long enough.
    let text = format!("log: {SECRET} as hex 547230756234646F72263320226F6B5C3F3F3F done");
    for split in 0..=text.len() {
        let (head, tail) = text.as_bytes().split_at(split);
        assert_eq!(
            stream_in_chunks(&redactor, &[head, tail]),
            format!("log: {MASK} as hex {MASK} done").as_bytes(),
            "split at {split}"
        );
    }
}

#[test]
fn stream_equals_whole_redaction_for_every_pair_of_split_points() {
    let redactor = redactor_with(MIXED);
    let mut rng = Lcg(7);
    let inputs = [
        format!("x abcdefghijkl y hunter22-extended z {SECRET}").into_bytes(),
        "aaaaaaaaaaaaa hunter22hunter22-extended pässwört".into(),
        random_text(&mut rng, 12),
    ];
    for input in &inputs {
        let whole = redactor.redact_bytes(input);
        assert_eq!(whole, reference(MIXED, input));
        for first in 0..=input.len() {
            for second in first..=input.len() {
                let chunks = [&input[..first], &input[first..second], &input[second..]];
                assert_eq!(
                    stream_in_chunks(&redactor, &chunks),
                    whole,
                    "splits at {first} and {second}"
                );
            }
        }
    }
}

#[test]
fn stream_equals_whole_redaction_for_random_splits() {
    let redactor = redactor_with(MIXED);
    let longest = longest_pattern(&redactor);
    let mut rng = Lcg(42);
    for _ in 0..300 {
        let pieces = rng.below(40);
        let input = random_text(&mut rng, pieces);
        let whole = redactor.redact_bytes(&input);
        assert_eq!(whole, reference(MIXED, &input));
        let mut chunks = Vec::new();
        let mut rest = input.as_slice();
        while !rest.is_empty() {
            let (chunk, after) = rest.split_at(rng.below(longest + 4).min(rest.len()));
            chunks.push(chunk);
            rest = after;
        }
        assert_eq!(stream_in_chunks(&redactor, &chunks), whole);
    }
}

#[test]
fn held_back_tail_is_shorter_than_the_longest_pattern() {
    let redactor = redactor_with(&["hunter22"]);
    let tail = longest_pattern(&redactor) - 1;
    let mut stream = redactor.stream();
    assert_eq!(stream.push(&[b'a'; 1000]).len(), 1000 - tail);
    assert_eq!(stream.held_back(), tail);
    assert_eq!(stream.finish().len(), tail);
}

#[test]
fn redactor_and_stream_can_move_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Redactor>();
    assert_send_sync::<RedactStream>();
}

#[test]
fn stream_without_secrets_holds_nothing_back() {
    let mut stream = Redactor::new().stream();
    assert_eq!(stream.push(b"hello"), b"hello");
    assert_eq!(stream.held_back(), 0);
}

#[test]
fn finish_flushes_a_held_back_partial_match_unmasked() {
    let mut stream = redactor_with(&["hunter22"]).stream();
    assert_eq!(stream.push(b"hunter2"), b"");
    assert_eq!(stream.finish(), b"hunter2");
}

#[test]
fn values_shorter_than_min_secret_len_are_ignored() {
    let redactor = redactor_with(&["abcde", "ééééé", ""]);
    assert!(redactor.is_empty());
    assert_eq!(redactor.redact("abcde ééééé"), "abcde ééééé");
    redactor.add("abcdef");
    assert_eq!(redactor.len(), 1);
    assert_eq!(redactor.redact("abcdef"), MASK);
}

#[test]
fn secret_that_is_a_prefix_of_another_is_fully_masked() {
    for order in [
        ["hunter22", "hunter22-extended"],
        ["hunter22-extended", "hunter22"],
    ] {
        let redactor = redactor_with(&order);
        assert_eq!(
            redactor.redact("a hunter22-extended b hunter22 c"),
            format!("a {MASK} b {MASK} c")
        );
    }
}

#[test]
fn overlapping_secrets_are_masked_as_one_region() {
    let redactor = redactor_with(&["abcdefgh", "efghijkl"]);
    assert_eq!(redactor.redact("x abcdefghijkl y"), format!("x {MASK} y"));
    assert_eq!(
        redactor.redact("x efghijklabcdefgh y"),
        format!("x {MASK}{MASK} y")
    );
}

#[test]
fn debug_shows_only_the_secret_count() {
    let redactor = redactor_with(&[SECRET, "hunter22"]);
    let mut stream = redactor.stream();
    stream.push(b"hunter2");
    assert_eq!(format!("{redactor:?}"), "Redactor { secrets: 2 }");
    assert_eq!(format!("{stream:?}"), "RedactStream { held_back: 7 }");
}

#[test]
fn secrets_added_after_a_stream_was_created_are_masked_in_later_pushes() {
    let redactor = Redactor::new();
    let mut stream = redactor.stream();
    let mut out = stream.push(b"early output, ");
    redactor.clone().add("hunter22");
    out.extend(stream.push(b"then hun"));
    out.extend(stream.push(b"ter22 appears"));
    out.extend(stream.finish());
    assert_eq!(out, format!("early output, then {MASK} appears").as_bytes());
}

#[test]
fn adding_a_secret_twice_counts_it_once() {
    let redactor = redactor_with(&["hunter22", "hunter22"]);
    assert_eq!(redactor.len(), 1);
}

#[test]
fn trimmed_value_of_a_secret_with_a_trailing_newline_is_masked() {
    let redactor = redactor_with(&["hunter22\n"]);
    assert_eq!(redactor.redact("pw=hunter22;"), format!("pw={MASK};"));
}

#[test]
fn utf8_characters_split_across_writes_come_out_whole() {
    let redactor = redactor_with(&["pässwört"]);
    let text = "ü… pässwört ☃";
    for split in 0..=text.len() {
        let (head, tail) = text.as_bytes().split_at(split);
        let out = String::from_utf8(stream_in_chunks(&redactor, &[head, tail])).unwrap();
        assert_eq!(out, format!("ü… {MASK} ☃"), "split at {split}");
    }
}

/// Ten megabytes streamed in 4 KiB chunks with 20 secrets registered: the one secret inside
/// is masked and nothing else is lost. How fast is for the benchmarks (W1 runs with a
/// registered secret), not for a timed test.
#[test]
fn ten_megabytes_in_4k_chunks_with_20_secrets_mask_the_one_inside() {
    let redactor = Redactor::new();
    let secrets: Vec<String> = (0..20)
        .map(|i| format!("s3cr3t-{i:02}-token-value"))
        .collect();
    redactor.add_all(secrets.iter().map(String::as_str));
    let mut rng = Lcg(1);
    let mut input: Vec<u8> = (0..10 << 20)
        .map(|_| b"abcdefghij s3cr-t\n"[rng.below(18)])
        .collect();
    input[5_000_000..5_000_000 + secrets[3].len()].copy_from_slice(secrets[3].as_bytes());
    let mut stream = redactor.stream();
    let mut out = Vec::with_capacity(input.len());
    for chunk in input.chunks(4096) {
        out.extend_from_slice(&stream.push(chunk));
    }
    out.extend_from_slice(&stream.finish());
    let mut expected = input[..5_000_000].to_vec();
    expected.extend_from_slice(MASK.as_bytes());
    expected.extend_from_slice(&input[5_000_000 + secrets[3].len()..]);
    assert!(
        out == expected,
        "the output differs from the input with one mask"
    );
}

#[test]
fn a_secret_inside_the_tail_of_a_mask_already_written_does_not_shorten_it() {
    // `9` of the first secret lies past the second, which ends inside the carried mask.
    let secrets = ["0123456789", "345678"];
    let redactor = redactor_with(&secrets);
    // Long enough that a push's decided prefix ends inside the first secret.
    let input = &[b"x 0123456789 y".as_slice(), &[b'z'; 40]].concat()[..];
    let whole = redactor.redact_bytes(input);
    assert_eq!(whole, reference(&secrets, input));
    for split in 0..=input.len() {
        for second in split..=input.len() {
            let chunks = [&input[..split], &input[split..second], &input[second..]];
            assert_eq!(
                stream_in_chunks(&redactor, &chunks),
                whole,
                "split at {split}, {second}"
            );
        }
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // A two-letter alphabet makes secrets overlap, nest and repeat themselves everywhere.
        // 2,000 cases: a defect that cut a carried mask short took about a thousand to show.
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn stream_and_whole_redaction_equal_the_brute_force_reference(
            secrets in prop::collection::vec("[ab]{6,10}", 1..4),
            pieces in prop::collection::vec((any::<prop::sample::Index>(), 0..4u8, any::<prop::sample::Index>()), 0..8),
            splits in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        ) {
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            let redactor = redactor_with(&secrets);
            // Whole secrets, their prefixes and suffixes, and separators, so that occurrences
            // overlap, nest and straddle the split points.
            let mut text = String::new();
            for (which, kind, at) in &pieces {
                let secret = which.get(&secrets);
                let cut = at.index(secret.len() + 1);
                text.push_str(match kind {
                    0 => secret,
                    1 => &secret[..cut],
                    2 => &secret[cut..],
                    _ => "x",
                });
            }
            let input = text.as_bytes();
            let whole = redactor.redact_bytes(input);
            prop_assert_eq!(&whole, &reference(&secrets, input));
            let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(input.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut from = 0;
            for cut in cuts {
                chunks.push(&input[from..cut]);
                from = cut;
            }
            chunks.push(&input[from..]);
            prop_assert_eq!(stream_in_chunks(&redactor, &chunks), whole);
        }
    }
}
