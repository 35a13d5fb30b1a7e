//! Canary tests: children print the old and the new secret raw, base64'd, hex'd, URL-encoded
//! and split across two writes; no channel — stdout, stderr, logs at any verbosity, files
//! under the state dir — may contain any of those forms.

mod common;

use base64::Engine;
use common::Test;
use sha2::Digest;

const OLD: &str = "old-canary-Secret+/value=42";

fn forms(secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut urlencoded = String::new();
    for byte in secret.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            urlencoded.push(char::from(byte));
        } else {
            urlencoded.push_str(&format!("%{byte:02X}"));
        }
    }
    vec![
        secret.to_string(),
        b64.encode(secret),
        b64.encode(secret).trim_end_matches('=').to_string(),
        url.encode(secret),
        hex::encode(secret),
        urlencoded,
        // What the `sha256` filter makes (the hash Redis stores): masked like the secret.
        hex::encode(sha2::Sha256::digest(secret.as_bytes())),
    ]
}

fn runbook(verify: &str) -> String {
    format!(
        r#"name: canary
secret: {{ id: canary, env: [CANARY_SECRET], every: 90d, impact: none }}
steps:
  - id: new
    generate: {{ bytes: 24, encoding: base64 }}
  - id: write
    needs: [new]
    env: {{ set: {{ CANARY_SECRET: "{{{{ steps.new.value }}}}" }} }}
  - id: leak
    needs: [write]
    exec:
      run: |
        printf '%s' "$NEW" > captured-new
        echo "old=$OLD new=$NEW"
        printf '%s' "$NEW" | base64 -w0; echo
        printf '%s' "$OLD" | base64 -w0; echo
        printf '%s' "$NEW" | od -An -tx1 | tr -d ' \n'; echo
        printf '%s' "$NEW" | cut -c1-9 | tr -d '\n'; sleep 0.2; printf '%s\n' "$NEW" | cut -c10-
        printf '%s' "$OLD" | cut -c1-7 | tr -d '\n' >&2; sleep 0.2; printf '%s\n' "$OLD" | cut -c8- >&2
      env: {{ NEW: "{{{{ steps.new.value }}}}", OLD: "{{{{ secret.current }}}}" }}
  - id: check
    needs: [leak]
    verify:
      exec: {{ run: "{verify}" }}
"#
    )
}

fn all_files_under(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(all_files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
    out
}

fn check_no_leak(verify: &str, args: &[&str], env: &[(&str, &str)], expected_code: i32) {
    let mut all = vec!["run", "canary"];
    all.extend_from_slice(args);
    let mut test = Test::new()
        .file("runbooks/canary.yaml", &runbook(verify))
        .file(".env.prod", &format!("CANARY_SECRET={OLD}\n"))
        .args(&all);
    for (k, v) in env {
        test = test.env(k, v);
    }
    let run = test.run();
    run.expect_code(expected_code);
    let new =
        String::from_utf8(test.read("captured-new")).expect("the child captured the new value");
    assert!(new.len() >= 32, "captured a generated value");
    let mut channels = vec![
        ("stdout".to_string(), run.stdout.clone().into_bytes()),
        ("stderr".to_string(), run.stderr.clone().into_bytes()),
    ];
    channels.extend(all_files_under(&test.path().join(".runbook")));
    for secret in [OLD, new.as_str()] {
        for form in forms(secret) {
            for (name, bytes) in &channels {
                let text = String::from_utf8_lossy(bytes);
                assert!(
                    !text.contains(&form),
                    "{args:?}: `{name}` contains a form of a secret: {form}\n{text}"
                );
            }
        }
    }
    assert!(
        run.stdout.contains("********") || run.stderr.contains("********"),
        "masked output is still shown"
    );
}

#[test]
fn no_secret_form_leaks_in_text_output() {
    check_no_leak("true", &[], &[], 0);
}

#[test]
fn no_secret_form_leaks_in_json_output() {
    check_no_leak("true", &["--format", "json"], &[], 0);
}

#[test]
fn no_secret_form_leaks_in_trace_logs() {
    check_no_leak("true", &["-vvv"], &[], 0);
    check_no_leak("true", &[], &[("RUST_LOG", "trace")], 0);
}

#[test]
fn no_secret_form_leaks_when_the_run_fails_and_rolls_back() {
    check_no_leak("false", &["-vvv"], &[], 1);
    check_no_leak("false", &["--format", "json"], &[], 1);
}

/// A rotation in two phases: the activate phase and the `retire` command each have a child
/// print the old and the new value in every form (the activate phase their SHA-256 too, as
/// the Redis runbook computes the hash its retire phase removes a password by); neither the output nor anything the run
/// keeps between its phases (or after) holds one.
#[test]
fn no_secret_form_leaks_from_either_phase_or_what_is_kept_between_them() {
    let leak = r#"
        printf '%s' "$NEW" > captured-new
        echo "old=$OLD new=$NEW"
        printf '%s' "$NEW" | base64 -w0; echo
        printf '%s' "$OLD" | od -An -tx1 | tr -d ' \n'; echo
        printf '%s' "$OLD" | cut -c1-7 | tr -d '\n' >&2; sleep 0.2; printf '%s\n' "$OLD" | cut -c8- >&2"#;
    let runbook = format!(
        r#"name: canary
secret: {{ id: canary, env: [CANARY_SECRET, CANARY_PREVIOUS], every: 90d, impact: none, overlap: 7d }}
steps:
  - id: new
    generate: {{ bytes: 24, encoding: base64 }}
  - id: write
    needs: [new]
    env: {{ set: {{ CANARY_SECRET: "{{{{ steps.new.value }}}}", CANARY_PREVIOUS: "{{{{ secret.current }}}}" }}, append: true }}
  - id: leak
    needs: [write]
    exec:
      run: |{leak}
      env: {{ NEW: "{{{{ steps.new.value }}}}", OLD: "{{{{ secret.current }}}}" }}
  - id: hash
    needs: [write]
    exec:
      run: cat
      stdin: "{{{{ secret.current | sha256 }}}}\n{{{{ steps.new.value | sha256 }}}}\n"
  - id: drop
    phase: retire
    env: {{ unset: [CANARY_PREVIOUS] }}
  - id: leak-again
    phase: retire
    needs: [drop]
    exec:
      run: |{leak}
      env: {{ NEW: "{{{{ secret.current }}}}", OLD: "{{{{ secret.values.CANARY_PREVIOUS }}}}" }}
"#
    );
    let test = Test::new()
        .file("runbooks/canary.yaml", &runbook)
        .file(".env.prod", &format!("CANARY_SECRET={OLD}\n"));
    let check = |run: &common::Run, new: &str, what: &str| {
        let mut channels = vec![
            ("stdout".to_string(), run.stdout.clone().into_bytes()),
            ("stderr".to_string(), run.stderr.clone().into_bytes()),
        ];
        channels.extend(all_files_under(&test.path().join(".runbook")));
        for secret in [OLD, new] {
            for form in forms(secret) {
                for (name, bytes) in &channels {
                    let text = String::from_utf8_lossy(bytes);
                    assert!(
                        !text.contains(&form),
                        "{what}: `{name}` holds a form of a secret: {form}\n{text}"
                    );
                }
            }
        }
        assert!(
            run.stdout.contains("********") || run.stderr.contains("********"),
            "{what}: masked output is shown"
        );
    };
    let activated = test.run_args(&["run", "canary", "--yes", "-vvv"]);
    activated.expect_code(0);
    let new = String::from_utf8(test.read("captured-new")).unwrap();
    check(&activated, &new, "activate");
    let retired = test.run_args(&["retire", "canary", "--now", "--yes", "-vvv"]);
    retired.expect_code(0);
    assert_eq!(String::from_utf8(test.read("captured-new")).unwrap(), new);
    check(&retired, &new, "retire");
    let status = test.run_args(&["history", "--format", "json"]);
    check(
        &common::Run {
            code: 0,
            stdout: status.stdout.clone() + "********",
            stderr: status.stderr,
        },
        &new,
        "history",
    );
}
