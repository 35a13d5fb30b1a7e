//! The crash matrix of the shipped encryption key rotation, on the demo deployment: the real
//! `runbook` killed with SIGKILL in each phase of `app-encryption-key-rotation` — around its
//! env edit, its restart and its re-encryption migration, and in the retire phase around the
//! removal of the old key and its restart. After each kill `resume` converges (on waiting for
//! retire, or retired) and `abort` rolls the phase back (to the old key alone, or to waiting for
//! retire again); whichever it is, every record opens under the key the service holds alone
//! or with its previous one, and the service reads all of them.

#[path = "demo_service/support.rs"]
mod support;

use support::{APP_DATA, Deployment, get, verify_records};

const RUNBOOK: &str = "app-encryption-key-rotation";

/// A demo deployment whose re-encryption runbook drives `demo-migrate`, its service running.
fn deployment() -> Deployment {
    let demo = Deployment::new();
    demo.configure(&support::reencrypt_vars());
    demo.restart_ok(&["api"]);
    demo
}

/// Runs `runbook ARGS` in `demo` until the failpoint `boundary` kills it (no exit code).
#[track_caller]
fn killed(demo: &Deployment, args: &[&str], boundary: &str) {
    let mut command = demo.runbook_command(args);
    let output = command.env("RUNBOOK_FAILPOINT", boundary).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code().is_none(),
        "{boundary}: not killed: {stderr}"
    );
}

fn active_run(demo: &Deployment) -> String {
    std::fs::read_to_string(demo.dir.path().join(".runbook/active"))
        .expect("the killed run is unfinished")
        .trim()
        .to_owned()
}

/// Every record opens under `key` (and none under `other`), and the service reads them all.
#[track_caller]
fn records_under(demo: &Deployment, key: &str, other: &str, boundary: &str) {
    let data = demo.dir.path().join(APP_DATA.1);
    let (code, report) = verify_records(&data, key, false);
    assert_eq!(code, 0, "{boundary}: {report}");
    assert_eq!(
        verify_records(&data, other, false).1["verified"],
        0,
        "{boundary}"
    );
    let (status, body) = get(demo.port, "/records/app", None);
    assert_eq!(
        status, 200,
        "{boundary}: the service reads every record: {body}"
    );
}

#[test]
fn a_kill_in_the_activate_phase_resumes_to_waiting_or_aborts_to_the_old_key_alone() {
    // The edit, the restart and the migration just done but not journaled; the last dry run
    // journaled done, so the next step (the records check) is all that is left.
    for (point, step) in [
        ("after-effect", "write"),
        ("after-effect", "restart"),
        ("after-effect", "migrate"),
        ("after-done", "all-under-new-key"),
    ] {
        for resume in [true, false] {
            let boundary = format!("{point}:{RUNBOOK}/{step}");
            let demo = deployment();
            let env_before = std::fs::read(demo.env_file()).unwrap();
            let old = demo.env().get(APP_DATA.2).unwrap();
            killed(&demo, &["run", RUNBOOK, "--yes"], &boundary);
            let run = active_run(&demo);
            let command = if resume { "resume" } else { "abort" };
            let (code, output) = demo.runbook(&[command, &run, "--yes"]);
            assert_eq!(code, 0, "{boundary} {command}: {output}");
            let env = demo.env();
            if resume {
                let new = env.get(APP_DATA.2).unwrap();
                assert_ne!(new, old, "{boundary}");
                assert_eq!(env.get("APP_ENCRYPTION_KEY_PREVIOUS"), Some(old.clone()));
                records_under(&demo, &new, &old, &boundary);
            } else {
                assert_eq!(
                    std::fs::read(demo.env_file()).unwrap(),
                    env_before,
                    "{boundary}: .env.prod byte for byte"
                );
                // `abort` runs no verify: the service comes back on the old key alone.
                records_under(&demo, &old, "n0t-a-key", &boundary);
            }
        }
    }
}

#[test]
fn a_kill_in_the_retire_phase_resumes_to_retired_or_aborts_to_waiting() {
    for step in ["drop-previous", "restart-retired"] {
        for resume in [true, false] {
            let boundary = format!("after-effect:{RUNBOOK}/{step}");
            let demo = deployment();
            let old = demo.env().get(APP_DATA.2).unwrap();
            let (code, output) = demo.runbook(&["run", RUNBOOK, "--yes"]);
            assert_eq!(code, 0, "{output}");
            let waiting = std::fs::read(demo.env_file()).unwrap();
            let new = demo.env().get(APP_DATA.2).unwrap();
            killed(
                &demo,
                &["retire", "app-encryption", "--now", "--yes"],
                &boundary,
            );
            let run = active_run(&demo);
            let command = if resume { "resume" } else { "abort" };
            let (code, output) = demo.runbook(&[command, &run, "--yes"]);
            assert_eq!(code, 0, "{boundary} {command}: {output}");
            if resume {
                assert_eq!(demo.env().get("APP_ENCRYPTION_KEY_PREVIOUS"), None);
            } else {
                assert_eq!(
                    std::fs::read(demo.env_file()).unwrap(),
                    waiting,
                    "{boundary}: waiting for retire again"
                );
            }
            assert_eq!(demo.env().get(APP_DATA.2), Some(new.clone()));
            records_under(&demo, &new, &old, &boundary);
        }
    }
}
