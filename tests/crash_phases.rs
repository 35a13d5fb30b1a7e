//! The crash matrix of a rotation in two phases: a keyring rotation killed with SIGKILL at every
//! step boundary of its activate phase, right after that phase is journaled done, right after
//! its retire phase begins, and at every step boundary of the retire phase. After each kill,
//! `resume` converges (on waiting for retire, or on the retired value) and `abort` rolls the
//! phase back: an activate phase to the old value byte for byte, a retire phase to waiting for
//! retire again. No pending file outlives its phase and no run stays active.

mod common;

use common::Test;

const OLD: &str = "0ld-crash-phase-value";
const ENV: &str = "# deployment\nexport REF=0ld-crash-phase-value\nOTHER=unchanged\n";

const RUNBOOK: &str = r#"name: ref-rotation
secret: { id: ref, env: [REF, REF_PREVIOUS], every: 90d, impact: none, overlap: 7d }
steps:
  - id: new
    generate: { bytes: 24, encoding: hex }
  - id: write
    needs: [new]
    env: { set: { REF: "{{ steps.new.value }}", REF_PREVIOUS: "{{ secret.current }}" }, append: true }
  - id: both
    needs: [write]
    verify: { exec: { run: "grep -q '^REF_PREVIOUS=' .env.prod" } }
  - id: drop
    phase: retire
    env: { unset: [REF_PREVIOUS] }
  - id: gone
    phase: retire
    needs: [drop]
    verify: { exec: { run: "! grep -q REF_PREVIOUS .env.prod" } }
"#;

fn boundaries(steps: &[(&str, bool)]) -> Vec<String> {
    let mut out = Vec::new();
    for (step, effect) in steps {
        for point in [
            "before-intent",
            "after-intent",
            "after-effect",
            "after-done",
        ] {
            if point == "after-effect" && !effect {
                continue;
            }
            out.push(format!("{point}:ref-rotation/{step}"));
        }
    }
    out
}

fn project() -> Test {
    Test::new()
        .file("runbooks/ref.yaml", RUNBOOK)
        .file(".env.prod", ENV)
}

fn text(test: &Test, name: &str) -> String {
    String::from_utf8(test.read(name)).unwrap()
}

/// Runs `args` until the failpoint kills it.
fn killed(test: &Test, args: &[&str], boundary: &str) {
    let output = test
        .command_with(args)
        .env("RUNBOOK_FAILPOINT", boundary)
        .output()
        .expect("spawn");
    assert_eq!(
        output.status.code(),
        None,
        "{boundary}: killed, not finished: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn active(test: &Test) -> Option<String> {
    std::fs::read_to_string(test.path().join(".runbook/active"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn only_run(test: &Test) -> String {
    let mut runs: Vec<String> = std::fs::read_dir(test.path().join(".runbook/runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.remove(0)
}

/// Waiting for retire: the new value in use, the old one kept as the previous, no run active,
/// no backup, nothing pending but `start.json`.
fn assert_waiting(test: &Test, boundary: &str) {
    let env = text(test, ".env.prod");
    assert!(
        env.contains(&format!("REF_PREVIOUS={OLD}\n")),
        "{boundary}: {env}"
    );
    assert!(
        !env.contains(&format!("export REF={OLD}")),
        "{boundary}: {env}"
    );
    assert_eq!(active(test), None, "{boundary}: not unfinished");
    let run = only_run(test);
    let dir = test.path().join(".runbook/runs").join(&run);
    assert!(
        !dir.join("backup").exists(),
        "{boundary}: no backup survives the activate phase"
    );
    assert_eq!(
        test.run_is_live(&run),
        Some(false),
        "{boundary}: the waiting run's folder says it finished settling"
    );
    assert_eq!(
        beside_backups(test),
        Vec::<String>::new(),
        "{boundary}: nor beside the env file"
    );
    let pending: Vec<String> = std::fs::read_dir(dir.join("pending"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(pending, ["start.json"], "{boundary}");
    let rotations = text(test, ".runbook/rotations.json");
    assert!(rotations.contains(&run), "{boundary}: {rotations}");
}

/// Retired: the new value alone, everything of the run gone but its journal.
fn assert_retired(test: &Test, boundary: &str) {
    let env = text(test, ".env.prod");
    assert!(
        !env.contains("REF_PREVIOUS") && !env.contains(OLD),
        "{boundary}: {env}"
    );
    assert!(env.starts_with("# deployment\nexport REF=") && env.ends_with("OTHER=unchanged\n"));
    assert_eq!(active(test), None, "{boundary}");
    let run = only_run(test);
    let dir = test.path().join(".runbook/runs").join(&run);
    assert!(
        !dir.join("pending").exists() && !dir.join("backup").exists(),
        "{boundary}"
    );
    assert_eq!(test.run_is_live(&run), Some(false), "{boundary}: ended");
    assert_eq!(beside_backups(test), Vec::<String>::new(), "{boundary}");
    assert!(!text(test, ".runbook/rotations.json").contains("waiting_for_retire"));
}

#[test]
fn a_kill_in_the_activate_phase_resumes_to_waiting_or_aborts_to_the_old_value() {
    let mut all = boundaries(&[("new", false), ("write", true), ("both", false)]);
    all.push("phase:after-waiting".into());
    for boundary in &all {
        for resume in [true, false] {
            let test = project();
            killed(&test, &["run", "ref-rotation", "--yes"], boundary);
            let id = only_run(&test);
            if boundary == "phase:after-waiting" {
                // The phase was journaled done: a new rotation is refused, and the next
                // command that takes the lock settles it first.
                let before = text(&test, ".env.prod");
                test.run_args(&["run", "ref-rotation", "--yes"])
                    .expect_code(4);
                assert_eq!(text(&test, ".env.prod"), before, "nothing was done");
                test.run_args(&["retire", "ref", "--now", "--yes"])
                    .expect_code(0);
                assert_retired(&test, boundary);
                continue;
            }
            let command = if resume { "resume" } else { "abort" };
            test.run_args(&[command, &id, "--yes"]).expect_code(0);
            if resume {
                assert_waiting(&test, boundary);
            } else {
                assert_eq!(text(&test, ".env.prod"), ENV, "{boundary}: byte for byte");
                assert_eq!(active(&test), None);
                let dir = test.path().join(".runbook/runs").join(&id);
                assert!(!dir.join("pending").exists(), "{boundary}");
            }
        }
    }
}

#[test]
fn a_kill_in_the_retire_phase_resumes_to_retired_or_aborts_to_waiting() {
    let mut all = vec!["phase:after-retiring".to_string()];
    all.extend(boundaries(&[("drop", true), ("gone", false)]));
    for boundary in &all {
        for resume in [true, false] {
            let test = project();
            test.run_args(&["run", "ref-rotation", "--yes"])
                .expect_code(0);
            let waiting = text(&test, ".env.prod");
            let id = only_run(&test);
            killed(&test, &["retire", "ref", "--now", "--yes"], boundary);
            assert_eq!(active(&test).as_deref(), Some(id.as_str()), "{boundary}");
            // Unfinished: no other run, and no second retire, may start on top of it.
            test.run_args(&["retire", "ref", "--now", "--yes"])
                .expect_code(4);
            let command = if resume { "resume" } else { "abort" };
            let out = test.run_args(&[command, &id, "--yes"]);
            out.expect_code(0);
            if resume {
                assert_retired(&test, boundary);
                assert!(test.run_args(&["history"]).stdout.contains("rotated "));
            } else {
                assert_eq!(
                    text(&test, ".env.prod"),
                    waiting,
                    "{boundary}: {}",
                    out.stdout
                );
                assert_waiting(&test, boundary);
                test.run_args(&["retire", "ref", "--now", "--yes"])
                    .expect_code(0);
                assert_retired(&test, boundary);
            }
            let journal = text(&test, &format!(".runbook/runs/{id}/journal.jsonl"));
            assert!(
                !journal.contains(OLD),
                "{boundary}: the journal holds no secret"
            );
        }
    }
}

/// Backups linked beside `.env.prod` (`..env.prod.runbook-<run>-<step>.bak`).
fn beside_backups(test: &Test) -> Vec<String> {
    std::fs::read_dir(test.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("..env.prod.runbook-") && n.ends_with(".bak"))
        .collect()
}
