//! Masking scales with the secrets' length whatever their content: a long repetitive secret
//! (whose encodings overlap themselves everywhere) is registered and masked in about the time a
//! random one is. Before the fix the automaton's build was quadratic (16,000 characters took
//! over a minute) and printing such a secret twice in a row was quadratic to mask.

mod common;

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::Test;

/// Far beyond what a linear build needs, far below what the quadratic one took (over ten
/// minutes for 200,000 characters): the failure mode is the kill, not a measured time.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(240);

const RUNBOOK: &str = r#"name: long-rotation
secret: { id: long, env: [LONG_SECRET], every: 90d, impact: none }
steps:
  - id: new
    generate: { bytes: 24, encoding: hex }
  - id: show-twice
    needs: [new]
    idempotent: true
    exec:
      run: "sed -n 's/^LONG_SECRET=//p' .env.prod .env.prod | tr -d '\\n'"
  - id: write
    needs: [show-twice]
    env: { set: { LONG_SECRET: "{{ steps.new.value }}" } }
"#;

fn repetitive_secret() -> String {
    "ab".repeat(100_000)
}

fn project(secret: &str) -> Test {
    Test::new()
        .file("runbooks/long.yaml", RUNBOOK)
        .file(".env.prod", &format!("LONG_SECRET={secret}\nOTHER=kept\n"))
}

/// Waits for the child, killing it at the timeout so a regression fails instead of hanging.
fn wait_bounded(mut child: Child) -> Output {
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    while child.try_wait().expect("poll runbook").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("runbook did not finish within {PROCESS_TIMEOUT:?}: masking is not linear");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("collect output")
}

fn run(test: &Test, args: &[&str]) -> Output {
    let mut command = test.command();
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Output is small (the secret is masked), so a pipe cannot fill while we poll.
    wait_bounded(command.spawn().expect("spawn runbook"))
}

#[test]
fn a_200k_repetitive_secret_does_not_stall_a_dry_run() {
    let secret = repetitive_secret();
    let test = project(&secret);
    let output = run(&test, &["run", "long-rotation", "--dry-run"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("LONG_SECRET"), "{stdout}");
    assert!(
        !stdout.contains("abababababab"),
        "a fragment of the secret was shown"
    );
}

#[test]
fn a_200k_repetitive_secret_printed_twice_by_a_step_is_masked_without_stalling() {
    let secret = repetitive_secret();
    let test = project(&secret);
    let output = run(&test, &["run", "long-rotation", "--yes", "-v"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains("abababababab"),
            "a fragment of the secret was shown"
        );
    }
    let env = String::from_utf8(test.read(".env.prod")).expect("utf-8");
    assert!(!env.contains(&secret) && env.ends_with("OTHER=kept\n"));
}
