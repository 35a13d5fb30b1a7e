//! The search for every problem of a runbook file (each step and the rest parsed again, field
//! by field, with parts erased) never panics, and every problem it reports points inside the
//! file. A short run stands in the suite; `PROPTEST_CASES=100000` for a long one.

use std::path::Path;

use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Pieces of runbooks, broken ones in the majority, multi-byte text and tabs included.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name: fuzz\n".to_string()),
        Just("steps:\n".to_string()),
        Just("  - id: a\n    exec: { run: 'true' }\n".to_string()),
        Just("  - id: b\n    retries: many\n    restart: [api]\n".to_string()),
        Just("  - id: c\n    interval: 1.5s\n    exec:\n      run: 123\n".to_string()),
        Just("  -\n".to_string()),
        Just("    needs: b\n".to_string()),
        Just("mode: panic\n".to_string()),
        Just("vars:\n  é: [ü]\n".to_string()),
        Just("\t  x: 1\n".to_string()),
        Just("secret: { id: s, env: S, every: 90d, impact: x }\n".to_string()),
        "[ -~]{0,20}\n".prop_map(|s| s),
        "  [a-z]{1,6}: [a-z0-9{}\\[\\]:,'\" é]{0,12}\n".prop_map(|s| s),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn every_problem_search_never_panics_and_points_inside_the_file(
        pieces in prop::collection::vec(piece(), 0..14)
    ) {
        let text: String = pieces.concat();
        let len = text.len();
        if let Err(partial) = runbook::load::parse_runbook(Path::new("fuzz.yaml"), text) {
            prop_assert!(!partial.problems.is_empty());
            for problem in &partial.problems {
                for (span, _) in &problem.labels {
                    prop_assert!(span.offset() <= len);
                }
            }
        }
    }
}
