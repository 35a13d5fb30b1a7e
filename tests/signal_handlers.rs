//! The signals a running `runbook` handles are the ones its spawn resets in each child before
//! the child's signals are unblocked (src/host/process/vfork.rs): Rust's two for stack
//! overflows, found at the first spawn, and the two `runbook` installs itself, perhaps later
//! (glibc's internal two aside).
//! A handler for any other signal, added without adding it there, makes this fail.

mod common;

use common::Test;

/// Signal `n` is bit `n - 1` of a /proc status set.
fn bit(signal: i32) -> u64 {
    1 << (signal - 1)
}

#[test]
fn runbook_handles_only_the_signals_a_child_has_reset() {
    // The second step runs after the first has been spawned and reaped, so every handler
    // installed at or after the first spawn is in place; `sh`'s parent is `runbook` itself.
    let runbook = "name: signals\nsteps:\n  - id: first\n    exec: { run: [\"true\"] }\n  - id: read\n    needs: [first]\n    exec: { run: [\"sh\", \"-c\", \"grep '^SigCgt:' /proc/$PPID/status > caught\"] }\n";
    let test = Test::new()
        .file("runbooks/it.yaml", runbook)
        .args(&["run", "signals"]);
    test.run().expect_code(0);
    let line = std::fs::read_to_string(test.path().join("caught")).expect("the step's output");
    let caught = u64::from_str_radix(
        line.trim()
            .strip_prefix("SigCgt:")
            .expect("a SigCgt line")
            .trim(),
        16,
    )
    .expect("a hexadecimal set");
    // The reaper's handler is there: what was read is the running binary's set.
    assert_ne!(caught & bit(libc::SIGCHLD), 0, "SigCgt {caught:x}");
    let reset = bit(libc::SIGINT) | bit(libc::SIGCHLD) | bit(libc::SIGSEGV) | bit(libc::SIGBUS);
    // glibc's two internal signals (32, 33), which `sigaction` refuses to change and glibc
    // sends only to threads of this process, never to a child.
    let glibc = bit(32) | bit(33);
    let caught = caught & !glibc;
    assert_eq!(
        caught & !reset,
        0,
        "handled but not reset: {:x}",
        caught & !reset
    );
}
