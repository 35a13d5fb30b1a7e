//! A run refused because another holds the lock always names the holder, even when the two
//! start at the same moment (the holder's line used to be written after the lock was taken, so
//! a refusal in between named nobody: `another run holds the lock ()`).

mod common;

use std::process::{Child, Stdio};

use common::Test;

/// The holder keeps the lock a moment, so its partner arrives while it is held.
const RUNBOOK: &str = "name: hold\nsteps:\n  - id: hold\n    exec: { run: sleep 0.3 }\n";

/// Pairs started together; the race used to hit about one refusal in three.
const PAIRS: usize = 24;

fn start(test: &Test) -> Child {
    let mut command = test.command();
    command
        .args(["run", "hold", "--yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command.spawn().expect("spawn runbook")
}

#[test]
fn a_refusal_for_the_lock_always_names_the_holder() {
    let mut refusals = 0;
    for _ in 0..PAIRS {
        let test = Test::new().file("runbooks/hold.yaml", RUNBOOK);
        let pair = [start(&test), start(&test)];
        for child in pair {
            let output = child.wait_with_output().expect("wait runbook");
            let stderr = String::from_utf8_lossy(&output.stderr);
            match output.status.code() {
                Some(0) => {}
                Some(4) => {
                    refusals += 1;
                    assert!(
                        stderr.contains("another run holds the lock (pid "),
                        "the refusal names no holder: {stderr}"
                    );
                }
                other => panic!("unexpected exit {other:?}: {stderr}"),
            }
        }
        // The line is written into the lock file itself and emptied before the lock is
        // released; no file is made for it.
        let lock = std::fs::read(test.path().join(".runbook/lock")).expect("read the lock");
        assert!(lock.is_empty(), "the holder's line outlives the run");
        assert!(
            !test.path().join(".runbook/lock.holder").exists(),
            "a holder file was written"
        );
    }
    assert!(refusals > 0, "no pair overlapped, so nothing was proven");
}

/// Earlier versions wrote the holder's line to `lock.holder`; one a killed process left behind
/// names a dead process, and the next run removes it.
#[test]
fn a_holder_file_an_earlier_version_left_is_removed() {
    let test = Test::new().file(
        "runbooks/quick.yaml",
        "name: quick\nsteps:\n  - id: quick\n    exec: { run: \"true\" }\n",
    );
    test.write(
        ".runbook/lock.holder",
        b"pid 999999999, run old, started then\n",
    );
    test.write(".runbook/lock.holder.4242", b"pid 4242");
    test.run_args(&["run", "quick"]).expect_code(0);
    for name in ["lock.holder", "lock.holder.4242"] {
        assert!(
            !test.path().join(".runbook").join(name).exists(),
            "{name} was left"
        );
    }
}
