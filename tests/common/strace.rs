//! The real binary under `strace -f`: which system calls a command made, counted rather than
//! timed, so a loaded machine gives the same answer. Without `strace` a test skips loudly, and
//! under CI (`CI` set) it fails instead; `.ci/test` installs it.

use std::io::Write;
use std::process::Command;

use super::Test;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether `strace` runs here; `unchecked` says what a test without it leaves unchecked.
pub(crate) fn available(unchecked: &str) -> bool {
    let found = Command::new("strace").arg("-V").output().is_ok();
    if !found {
        let message = format!("SKIPPED: strace not found (install strace) — {unchecked}");
        assert!(!in_ci(), "{message}; CI is set, so a missing strace fails");
        let _ = writeln!(std::io::stderr(), "\n*** {message} ***\n");
    }
    found
}

/// Runs `runbook ARGS` in the test's directory under `strace -f -y -e trace=CALLS` and returns
/// its exit code and the trace, one call per line (each descriptor followed by its path).
pub(crate) fn trace(test: &Test, args: &[&str], calls: &str) -> (Option<i32>, String) {
    let out = test.path().join("strace.out");
    let mut runbook = test.command();
    runbook.args(args);
    let mut command = Command::new("strace");
    command
        .args(["-f", "-qq", "-y", "-o"])
        .arg(&out)
        .arg("-e")
        .arg(format!("trace={calls}"))
        .arg(runbook.get_program())
        .args(runbook.get_args())
        .current_dir(test.path());
    for (key, value) in runbook.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let output = command.output().expect("spawn strace");
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| {
        panic!(
            "no strace output ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), text)
}
