//! A restart cut off by a kill may have happened: its driver runs in its own process group and
//! goes on recreating the services with the new values after `runbook` dies. `abort` must then
//! restart again once the files are restored, `resume` must leave the services on the new
//! values, and neither may claim what it did not check.

mod common;

use common::Test;

const ENV: &str = "REF_SECRET=0ld-reference-secret-value\nOTHER=unchanged\n";

/// The "service" reads the env file when (re)started: `running.env` is what it runs with.
const CONFIG: &str = "restart:\n  run: cp .env.prod running.env\n";

const RUNBOOK: &str = r#"name: ref-rotation
secret: { id: ref, env: [REF_SECRET], every: 90d, impact: none }
steps:
  - id: new
    generate: { bytes: 24, encoding: hex }
  - id: write
    needs: [new]
    env: { set: { REF_SECRET: "{{ steps.new.value }}" } }
  - id: restart
    needs: [write]
    restart: [app]
  - id: healthy
    needs: [restart]
    verify:
      exec: { run: cmp -s running.env .env.prod }
"#;

fn project() -> Test {
    Test::new()
        .file("runbook.yaml", CONFIG)
        .file("runbooks/ref.yaml", RUNBOOK)
        .file(".env.prod", ENV)
        .file("running.env", ENV)
}

fn crash(test: &Test, failpoint: &str) -> String {
    let output = test
        .command()
        .args(["run", "ref-rotation", "--yes"])
        .env("RUNBOOK_FAILPOINT", failpoint)
        .output()
        .expect("spawn");
    assert_eq!(output.status.code(), None, "{failpoint}: killed");
    String::from_utf8(test.read(".runbook/active"))
        .expect("utf-8")
        .trim()
        .to_string()
}

fn read(test: &Test, name: &str) -> String {
    String::from_utf8(test.read(name)).expect("utf-8")
}

#[test]
fn abort_after_a_restart_cut_off_restarts_again_after_restoring() {
    for failpoint in [
        "after-intent:ref-rotation/restart",
        "after-effect:ref-rotation/restart",
    ] {
        let test = project();
        let run_id = crash(&test, failpoint);
        let out = test
            .command()
            .args(["abort", &run_id])
            .output()
            .expect("spawn");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{failpoint}: {stdout}");
        assert_eq!(read(&test, ".env.prod"), ENV, "{failpoint}: restored");
        assert_eq!(
            read(&test, "running.env"),
            ENV,
            "{failpoint}: the service was restarted on the restored file"
        );
        assert!(stdout.contains("restarted app"), "{failpoint}: {stdout}");
        assert!(
            !stdout.contains("the system is as before")
                && stdout.contains("health was not checked"),
            "{failpoint}: abort claims only what it did: {stdout}"
        );
    }
}

#[test]
fn resume_after_a_restart_cut_off_leaves_the_service_on_the_new_value() {
    for failpoint in [
        "after-intent:ref-rotation/restart",
        "after-effect:ref-rotation/restart",
    ] {
        let test = project();
        let run_id = crash(&test, failpoint);
        let out = test
            .command()
            .args(["resume", &run_id])
            .output()
            .expect("spawn");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{failpoint}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = read(&test, ".env.prod");
        assert_ne!(env, ENV, "{failpoint}: rotated");
        assert_eq!(
            read(&test, "running.env"),
            env,
            "{failpoint}: running the new value"
        );
    }
}
