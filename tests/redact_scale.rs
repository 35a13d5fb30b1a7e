//! Masking scales with the secrets' length whatever their content: a long repetitive secret
//! (whose encodings overlap themselves everywhere) is registered and masked in about the time a
//! random one is. Before the fix the automaton's build was quadratic (16,000 characters took
//! over a minute) and printing such a secret twice in a row was quadratic to mask.

mod common;

use std::process::Stdio;
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

/// What a bounded run printed.
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `runbook ARGS`, killing it at the timeout so a regression fails instead of hanging.
/// Its output goes to files, so however much it prints it never blocks on a full pipe.
fn run(test: &Test, args: &[&str]) -> Output {
    let out_path = test.path().join("runbook.out");
    let err_path = test.path().join("runbook.err");
    let mut child = test
        .command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawn runbook");
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll runbook") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("runbook did not finish within {PROCESS_TIMEOUT:?}: masking is not linear");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |path| String::from_utf8_lossy(&std::fs::read(path).expect("output")).into_owned();
    Output {
        code: status.code(),
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

#[test]
fn a_200k_repetitive_secret_does_not_stall_a_dry_run() {
    let secret = repetitive_secret();
    let test = project(&secret);
    let output = run(&test, &["run", "long-rotation", "--dry-run"]);
    let stdout = output.stdout.clone();
    assert_eq!(output.code, Some(0), "{stdout}");
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
    let stdout = output.stdout.clone();
    let stderr = output.stderr.clone();
    assert_eq!(output.code, Some(0), "{stdout}{stderr}");
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains("abababababab"),
            "a fragment of the secret was shown"
        );
    }
    let env = String::from_utf8(test.read(".env.prod")).expect("utf-8");
    assert!(!env.contains(&secret) && env.ends_with("OTHER=kept\n"));
}

#[test]
fn many_small_writes_with_a_200k_secret_registered_are_masked_without_stalling() {
    // Output arrives in thousands of small writes while a huge secret is registered, so the
    // stream holds back and pushes many times: a guard that this stays linear too.
    let runbook = RUNBOOK.replace(
        r#"run: "sed -n 's/^LONG_SECRET=//p' .env.prod .env.prod | tr -d '\\n'""#,
        r#"run: "awk 'BEGIN { for (i = 0; i < 20000; i++) { print \"line \" i; fflush() } }'""#,
    );
    assert_ne!(runbook, RUNBOOK, "the step was replaced");
    let test = Test::new().file("runbooks/long.yaml", &runbook).file(
        ".env.prod",
        &format!("LONG_SECRET={}\n", repetitive_secret()),
    );
    let output = run(
        &test,
        &["run", "long-rotation", "--yes", "--format", "json"],
    );
    let stdout = output.stdout.clone();
    assert_eq!(output.code, Some(0), "{}", output.stderr.clone());
    assert!(stdout.contains("line 19999"), "the output came through");
}
