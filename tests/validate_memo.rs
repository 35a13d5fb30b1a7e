//! A library checked without a problem is remembered in the state directory, by the digest
//! of its files, the project and the executable: an unchanged library is not checked again
//! (`-vv` says so), and anything else is checked in full, with the same output as if nothing
//! had been remembered.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Test, binary};

const SKIPPED: &str = "not checked again";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn remembered(test: &Test) -> String {
    String::from_utf8(test.read(".runbook/validated")).expect("utf-8")
}

/// A template that reads a var no one defines: a check problem, not a parse problem.
fn break_a_template(test: &Test) {
    let path = "runbooks/jwt-rotation.yaml";
    let text = String::from_utf8(test.read(path)).expect("utf-8");
    let broken = text.replacen("{{ vars.api_url }}", "{{ vars.no_such_var }}", 1);
    assert_ne!(text, broken, "the runbook has a template to break");
    test.write(path, broken.as_bytes());
}

#[test]
fn an_unchanged_library_is_not_checked_again_and_reads_the_same() {
    let test = Test::new().with_library();
    let first = test.run_args(&["-vv", "validate"]);
    first.expect_code(0);
    assert!(first.stdout.contains("runbooks valid"), "{}", first.stdout);
    assert!(!first.stderr.contains(SKIPPED), "{}", first.stderr);

    // Only digests, in a private file of a private directory, and the catalog.
    assert_eq!(mode(&test.path().join(".runbook")), 0o700);
    assert_eq!(mode(&test.path().join(".runbook/validated")), 0o600);
    let mut entries: Vec<_> = std::fs::read_dir(test.path().join(".runbook"))
        .expect("state dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    entries.sort();
    // The catalog of the library is what `plan` reads it by (tests/plan_catalog.rs).
    assert_eq!(entries, ["catalog.json", "validated"]);
    let memo = remembered(&test);
    assert_eq!(memo.lines().count(), 1, "{memo}");
    assert!(
        memo.lines()
            .all(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit())),
        "{memo}"
    );

    let second = test.run_args(&["-vv", "validate"]);
    second.expect_code(0);
    assert_eq!(second.stdout, first.stdout);
    assert!(second.stderr.contains(SKIPPED), "{}", second.stderr);
    assert_eq!(remembered(&test), memo, "nothing new to remember");

    // `plan` uses what `validate` found, and shows the same plan as without it.
    let warm = test.run_args(&["-vv", "plan", "jwt-rotation"]);
    warm.expect_code(0);
    assert!(warm.stderr.contains(SKIPPED), "{}", warm.stderr);
    let cold = test.run_args(&["--state-dir", "cold", "-vv", "plan", "jwt-rotation"]);
    cold.expect_code(0);
    assert!(!cold.stderr.contains(SKIPPED), "{}", cold.stderr);
    assert_eq!(warm.stdout, cold.stdout);
}

#[test]
fn a_changed_runbook_is_checked_again_and_reported_as_without_the_memory() {
    let test = Test::new().with_library();
    test.run_args(&["validate"]).expect_code(0);
    let memo = remembered(&test);
    break_a_template(&test);

    let warm = test.run_args(&["-vv", "validate"]);
    warm.expect_code(2);
    assert!(!warm.stderr.contains(SKIPPED), "{}", warm.stderr);
    assert!(
        warm.stderr.contains("jwt-rotation.yaml:") && warm.stderr.contains("no_such_var"),
        "{}",
        warm.stderr
    );
    // The same diagnostics, byte for byte, as from a state directory that never saw the
    // library (the log line's time stamp aside: without `-vv`).
    let warm = test.run_args(&["validate"]);
    let cold = test.run_args(&["--state-dir", "cold", "validate"]);
    cold.expect_code(2);
    assert_eq!(warm.stderr, cold.stderr);
    assert_eq!(warm.stdout, cold.stdout);
    assert_eq!(
        remembered(&test),
        memo,
        "a library with a problem is not remembered"
    );
    assert!(
        !test.path().join("cold/validated").exists(),
        "nor is one checked for the first time"
    );

    // The plan is refused as it would be without the memory.
    let plan = test.run_args(&["plan", "jwt-rotation"]);
    plan.expect_code(2);
    assert!(plan.stderr.contains("no_such_var"), "{}", plan.stderr);
}

#[test]
fn other_vars_another_executable_or_a_memory_not_ours_are_checked_again() {
    let test = Test::new().with_library();
    test.run_args(&["validate"]).expect_code(0);
    assert!(test.run_args(&["-vv", "validate"]).stderr.contains(SKIPPED));

    // `--var` is part of what the templates are checked with.
    let vars = test.run_args(&["-vv", "--var", "api_url=http://127.0.0.1:1", "validate"]);
    vars.expect_code(0);
    assert!(!vars.stderr.contains(SKIPPED), "{}", vars.stderr);

    // Another build of runbook may check differently: a copy is another executable.
    let copy = test.path().join("runbook-copy");
    std::fs::copy(binary(), &copy).expect("copy the binary");
    let other = std::process::Command::new(&copy)
        .args(["-vv", "validate"])
        .current_dir(test.path())
        .env_remove("RUST_LOG")
        .output()
        .expect("run the copy");
    assert!(other.status.success());
    assert!(!String::from_utf8_lossy(&other.stderr).contains(SKIPPED));

    // Writable by others: anyone could have put a digest there.
    let memo = test.path().join(".runbook/validated");
    std::fs::set_permissions(&memo, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let foreign = test.run_args(&["-vv", "validate"]);
    foreign.expect_code(0);
    assert!(!foreign.stderr.contains(SKIPPED), "{}", foreign.stderr);

    // Garbled: matches nothing, and is replaced by what this check found.
    test.write(".runbook/validated", b"garbage\n\0\xff\n");
    std::fs::set_permissions(&memo, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let garbled = test.run_args(&["-vv", "validate"]);
    garbled.expect_code(0);
    assert!(!garbled.stderr.contains(SKIPPED), "{}", garbled.stderr);
    assert!(test.run_args(&["-vv", "validate"]).stderr.contains(SKIPPED));
}
