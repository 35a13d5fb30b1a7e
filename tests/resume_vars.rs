//! A run started with `--var` is resumed, aborted and retired with the same vars, which the
//! journal recorded: a var can decide which steps run, so another one (or none) would make a
//! resumed run another plan than the one its journal describes.

mod common;

use common::Test;

const RUNBOOK: &str = r#"name: ref-rotation
secret: { id: ref, env: [REF_SECRET], every: 90d, impact: none }
vars:
  announce: "no"
  channel: nobody
steps:
  - id: new
    generate: { bytes: 24, encoding: hex }
  - id: write
    needs: [new]
    env: { set: { REF_SECRET: "{{ steps.new.value }}" } }
  - id: announce
    needs: [write]
    when: vars.announce == 'yes'
    exec: { run: "echo {{ vars.channel }} > announced" }
"#;

/// The `--var` flags the killed run starts with.
const RUN_VARS: [&str; 4] = ["--var", "announce=yes", "--var", "channel=ops"];

fn project() -> Test {
    Test::new()
        .file("runbooks/ref.yaml", RUNBOOK)
        .file(".env.prod", "REF_SECRET=old-value-of-the-ref\n")
}

/// Runs with `--var`s until the failpoint after the env edit kills it; the run's id.
fn crash_with_vars(test: &Test) -> String {
    let out = test
        .command()
        .args(RUN_VARS)
        .args(["run", "ref-rotation", "--yes"])
        .env("RUNBOOK_FAILPOINT", "after-effect:ref-rotation/write")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "the run was killed");
    String::from_utf8(test.read(".runbook/active"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn resume_without_var_runs_the_plan_the_run_started_with() {
    let test = project();
    let run_id = crash_with_vars(&test);
    let out = test
        .command()
        .args(["resume", &run_id, "--yes"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        test.read("announced"),
        b"ops\n",
        "the step chosen by `--var announce=yes` ran, with the run's `--var channel`"
    );
}

#[test]
fn resume_and_abort_refuse_other_vars_and_change_nothing() {
    let test = project();
    let run_id = crash_with_vars(&test);
    let before = test.read(".env.prod");
    for command in ["resume", "abort"] {
        let out = test
            .command()
            .args(["--var", "announce=no", command, &run_id, "--yes"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("started with `--var announce=…`, `--var channel=…`"),
            "{command} names the run's vars: {stderr}"
        );
        assert!(
            !stderr.contains("ops"),
            "{command}: a var's value is not shown"
        );
    }
    assert_eq!(test.read(".env.prod"), before, "nothing was touched");
    assert!(!test.path().join("announced").exists());
    // The same vars, given again, are accepted.
    let out = test
        .command()
        .args(RUN_VARS)
        .args(["abort", &run_id, "--yes"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(test.read(".env.prod"), b"REF_SECRET=old-value-of-the-ref\n");
}

#[test]
fn a_run_started_without_var_refuses_one_at_resume() {
    let test = project();
    let out = test
        .command()
        .args(["run", "ref-rotation", "--yes"])
        .env("RUNBOOK_FAILPOINT", "after-effect:ref-rotation/write")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "the run was killed");
    let run_id = String::from_utf8(test.read(".runbook/active")).unwrap();
    let out = test
        .command()
        .args(["--var", "announce=yes", "resume", run_id.trim(), "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("started with no `--var`"), "{stderr}");
    assert!(!test.path().join("announced").exists());
}
