//! `status` and `history` from real runs and the state files: due dates, `--check` for cron,
//! and a Prometheus exposition that parses.

mod common;

use common::Test;

const ROTATION: &str = "name: tiny-rotation\nsecret: { id: tiny, env: [TINY_SECRET], every: 90d, impact: none }\nsteps:\n  - id: new\n    generate: { bytes: 16, encoding: hex }\n  - id: write\n    needs: [new]\n    env: { set: { TINY_SECRET: \"{{ steps.new.value }}\" } }\n";
const PROVIDER: &str = "name: vendor-rotation\nsecret: { id: vendor, env: [VENDOR_KEY], every: provider, impact: none }\nsteps:\n  - id: note\n    manual: { instructions: Rotate it in the console. }\n";

fn project() -> Test {
    Test::new()
        .file("runbooks/tiny.yaml", ROTATION)
        .file("runbooks/vendor.yaml", PROVIDER)
        .file(
            ".env.prod",
            "TINY_SECRET=old-tiny-secret\nVENDOR_KEY=vendor-key-value\n",
        )
}

#[test]
fn a_completed_rotation_is_not_overdue_and_appears_in_history() {
    let test = project();
    let before = Test::command(&test)
        .args(["status", "--check"])
        .output()
        .unwrap();
    assert_eq!(
        before.status.code(),
        Some(1),
        "never rotated under a time policy counts as overdue"
    );
    let run = test
        .command()
        .args(["run", "tiny-rotation", "--yes"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    let after = test.command().args(["status", "--check"]).output().unwrap();
    assert_eq!(
        after.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&after.stdout)
    );
    let json = test
        .command()
        .args(["status", "--format", "json"])
        .output()
        .unwrap();
    let statuses: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let tiny = statuses
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["secret"] == "tiny")
        .unwrap();
    assert!(tiny["last_rotated"].is_string() && tiny["next_due"].is_string());
    assert_eq!(tiny["overdue"], false);
    let vendor = statuses
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["secret"] == "vendor")
        .unwrap();
    assert_eq!(vendor["policy"], "provider policy");
    assert!(vendor["next_due"].is_null());
    let history = test
        .command()
        .args(["history", "--format", "json"])
        .output()
        .unwrap();
    let entries: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    let entry = &entries.as_array().unwrap()[0];
    assert_eq!(entry["secret"], "tiny");
    assert_eq!(entry["outcome"], "rotated");
    assert_eq!(entry["fingerprint"].as_str().map(str::len), Some(16));
    let audit = String::from_utf8(test.read(".runbook/audit.jsonl")).unwrap();
    let env = String::from_utf8(test.read(".env.prod")).unwrap();
    let new = env
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("TINY_SECRET=");
    assert!(
        !audit.contains(new) && !audit.contains("old-tiny-secret"),
        "the audit log holds fingerprints, never values"
    );
}

#[test]
fn status_check_exits_1_for_a_secret_past_its_policy() {
    let test = project();
    let long_ago = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * 100))
        .unwrap();
    let recent = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24))
        .unwrap();
    test.write(".runbook/rotations.json", format!("{{\"tiny\": {{\"last_rotated\": \"{long_ago}\", \"run_id\": \"old\", \"fingerprint\": null}}}}").as_bytes());
    let run = test.command().args(["status", "--check"]).output().unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("OVERDUE by 10 days"),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    test.write(".runbook/rotations.json", format!("{{\"tiny\": {{\"last_rotated\": \"{recent}\", \"run_id\": \"new\", \"fingerprint\": null}}}}").as_bytes());
    assert_eq!(
        test.command()
            .args(["status", "--check"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );
}

/// A metric name, its labels and its value.
type Sample = (String, Vec<(String, String)>, f64);

/// A strict reading of the text exposition format (version 0.0.4): HELP and TYPE before a
/// family's samples, metric and label names valid, values numbers, no duplicate series.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    let mut typed = std::collections::HashSet::new();
    let mut seen = std::collections::HashSet::new();
    let mut samples = Vec::new();
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let keyword = parts.next().unwrap();
            let name = parts.next().expect("a metric name");
            assert!(valid_name(name), "bad metric name {name}");
            if keyword == "TYPE" {
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"]
                        .contains(&parts.next().unwrap())
                );
                typed.insert(name.to_string());
            } else {
                assert_eq!(keyword, "HELP");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = value.parse().expect("the value is a number");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels close");
                let labels = body
                    .split(',')
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').expect("label=value");
                        assert!(valid_name(k));
                        assert!(
                            v.starts_with('"') && v.ends_with('"'),
                            "label values are quoted"
                        );
                        (k.to_string(), v.trim_matches('"').to_string())
                    })
                    .collect();
                (name.to_string(), labels)
            }
            None => (series.to_string(), Vec::new()),
        };
        assert!(
            typed.contains(&name),
            "{name} has a TYPE line before its samples"
        );
        assert!(seen.insert(series.to_string()), "duplicate series {series}");
        samples.push((name, labels, value));
    }
    samples
}

#[test]
fn prometheus_exposition_parses_and_reports_overdue_and_last_rotation() {
    let test = project();
    let run = test
        .command()
        .args(["run", "tiny-rotation", "--yes"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    let out = test
        .command()
        .args(["status", "--format", "prometheus"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let samples = parse_exposition(&text);
    let find = |name: &str, secret: &str| {
        samples
            .iter()
            .find(|(n, l, _)| n == name && l.iter().any(|(k, v)| k == "secret" && v == secret))
            .map(|s| s.2)
    };
    let last = find("runbook_secret_last_rotation_timestamp_seconds", "tiny")
        .expect("last rotation of tiny");
    let now = jiff::Timestamp::now().as_second() as f64;
    assert!((now - last).abs() < 120.0, "the last rotation is now");
    assert_eq!(find("runbook_secret_overdue", "tiny"), Some(0.0));
    assert_eq!(find("runbook_secret_overdue", "vendor"), Some(0.0));
    assert_eq!(
        find("runbook_secret_last_rotation_timestamp_seconds", "vendor"),
        None,
        "never rotated: no sample"
    );
}

/// The audit log and the rotation record are written and flushed together at a run's end, but
/// each on its own: an audit log that cannot be written is reported, and the rotation is still
/// recorded for `status`.
#[test]
fn an_audit_log_that_cannot_be_written_is_reported_and_the_rotation_still_recorded() {
    let test = project();
    std::fs::create_dir_all(test.path().join(".runbook/audit.jsonl")).unwrap();
    // The rotation itself is done; the live view warns about the log it could not write.
    let stdout = test
        .run_args(&["run", "tiny-rotation", "--yes"])
        .expect_code(0)
        .stdout
        .clone();
    assert!(
        stdout.contains("could not update the audit log"),
        "the failure is not reported: {stdout}"
    );
    assert!(
        !stdout.contains("could not update the rotation record"),
        "{stdout}"
    );
    let rotations = std::fs::read_to_string(test.path().join(".runbook/rotations.json"))
        .expect("the rotation is recorded");
    assert!(rotations.contains("\"tiny\""), "{rotations}");
    assert!(rotations.contains("last_rotated"), "{rotations}");
}
