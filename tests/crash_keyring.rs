//! The crash matrix of the shipped encryption key rotations, on the demo deployment: the real
//! `runbook` killed with SIGKILL in each phase of `app-encryption-key-rotation` and of
//! `mfa-encryption-key-rotation` — around its env edit, its restart and its re-encryption
//! migration, and in the retire phase around the removal of the old key and its restart. After
//! each kill `resume` converges (on waiting for retire, or retired) and `abort` rolls the phase
//! back (to the old key alone, or to waiting for retire again); whichever it is, every record
//! opens under the key the service holds alone or with its previous one, and the service reads
//! all of them.

#[path = "demo_service/support.rs"]
mod support;

use support::{APP_DATA, Deployment, MFA_DATA, get, verify_records};

/// One of the two keyrings: its runbook, its secret, its data and how the service shows it.
struct Keyring {
    runbook: &'static str,
    secret: &'static str,
    /// The data's template, its copy's name and the key's variable (`support::APP_DATA`).
    data: (&'static str, &'static str, &'static str),
    previous: &'static str,
    mfa: bool,
    records: &'static str,
}

/// A key of the shape both keyrings take (the MFA one is 64 hex characters) that is not theirs.
const WRONG_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const APP: Keyring = Keyring {
    runbook: "app-encryption-key-rotation",
    secret: "app-encryption",
    data: APP_DATA,
    previous: "APP_ENCRYPTION_KEY_PREVIOUS",
    mfa: false,
    records: "/records/app",
};

const MFA: Keyring = Keyring {
    runbook: "mfa-encryption-key-rotation",
    secret: "mfa-encryption",
    data: MFA_DATA,
    previous: "MFA_ENCRYPTION_KEY_PREVIOUS",
    mfa: true,
    records: "/records/mfa",
};

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

/// Every record of `ring` opens under `key` (and none under `other`), and the service reads
/// them all.
#[track_caller]
fn records_under(demo: &Deployment, ring: &Keyring, key: &str, other: &str, boundary: &str) {
    let data = demo.dir.path().join(ring.data.1);
    let (code, report) = verify_records(&data, key, ring.mfa);
    assert_eq!(code, 0, "{boundary}: {report}");
    assert_eq!(
        verify_records(&data, other, ring.mfa).1["verified"],
        0,
        "{boundary}"
    );
    let (status, body) = get(demo.port, ring.records, None);
    assert_eq!(
        status, 200,
        "{boundary}: the service reads every record: {body}"
    );
}

#[test]
fn a_kill_in_the_app_key_activate_phase_resumes_to_waiting_or_aborts_to_the_old_key_alone() {
    activate_phase(&APP);
}

#[test]
fn a_kill_in_the_mfa_key_activate_phase_resumes_to_waiting_or_aborts_to_the_old_key_alone() {
    activate_phase(&MFA);
}

#[test]
fn a_kill_in_the_app_key_retire_phase_resumes_to_retired_or_aborts_to_waiting() {
    retire_phase(&APP);
}

#[test]
fn a_kill_in_the_mfa_key_retire_phase_resumes_to_retired_or_aborts_to_waiting() {
    retire_phase(&MFA);
}

fn activate_phase(ring: &Keyring) {
    // The edit, the restart and the migration just done but not journaled; the last dry run
    // journaled done, so the next step (the records check) is all that is left.
    for (point, step) in [
        ("after-effect", "write"),
        ("after-effect", "restart"),
        ("after-effect", "migrate"),
        ("after-done", "all-under-new-key"),
    ] {
        for resume in [true, false] {
            let boundary = format!("{point}:{}/{step}", ring.runbook);
            let demo = deployment();
            let env_before = std::fs::read(demo.env_file()).unwrap();
            let old = demo.env().get(ring.data.2).unwrap();
            killed(&demo, &["run", ring.runbook, "--yes"], &boundary);
            let run = active_run(&demo);
            let command = if resume { "resume" } else { "abort" };
            let (code, output) = demo.runbook(&[command, &run, "--yes"]);
            assert_eq!(code, 0, "{boundary} {command}: {output}");
            let env = demo.env();
            if resume {
                let new = env.get(ring.data.2).unwrap();
                assert_ne!(new, old, "{boundary}");
                assert_eq!(env.get(ring.previous), Some(old.clone()));
                records_under(&demo, ring, &new, &old, &boundary);
            } else {
                assert_eq!(
                    std::fs::read(demo.env_file()).unwrap(),
                    env_before,
                    "{boundary}: .env.prod byte for byte"
                );
                // `abort` runs no verify: the service comes back on the old key alone.
                records_under(&demo, ring, &old, WRONG_KEY, &boundary);
            }
        }
    }
}

fn retire_phase(ring: &Keyring) {
    for step in ["drop-previous", "restart-retired"] {
        for resume in [true, false] {
            let boundary = format!("after-effect:{}/{step}", ring.runbook);
            let demo = deployment();
            let old = demo.env().get(ring.data.2).unwrap();
            let (code, output) = demo.runbook(&["run", ring.runbook, "--yes"]);
            assert_eq!(code, 0, "{output}");
            let waiting = std::fs::read(demo.env_file()).unwrap();
            let new = demo.env().get(ring.data.2).unwrap();
            killed(&demo, &["retire", ring.secret, "--now", "--yes"], &boundary);
            let run = active_run(&demo);
            let command = if resume { "resume" } else { "abort" };
            let (code, output) = demo.runbook(&[command, &run, "--yes"]);
            assert_eq!(code, 0, "{boundary} {command}: {output}");
            if resume {
                assert_eq!(demo.env().get(ring.previous), None);
            } else {
                assert_eq!(
                    std::fs::read(demo.env_file()).unwrap(),
                    waiting,
                    "{boundary}: waiting for retire again"
                );
            }
            assert_eq!(demo.env().get(ring.data.2), Some(new.clone()));
            records_under(&demo, ring, &new, &old, &boundary);
        }
    }
}
