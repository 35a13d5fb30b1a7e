//! A fleet run killed with SIGKILL mid-run (the failpoints), then finished with `resume` or
//! rolled back with `abort` on every host, through the real binary and real sshd servers,
//! without the operator passing `--inventory` again.

mod common;

use common::Test;
use common::fleet::{ENV, ROTATION, env_value, project, servers};

/// Runs the fleet rotation until the failpoint kills it; returns the run id.
fn crash(test: &Test, failpoint: &str) -> String {
    crash_with(test, failpoint, &[])
}

/// As `crash`, with more global flags (`--limit`).
fn crash_with(test: &Test, failpoint: &str, flags: &[&str]) -> String {
    crash_running(test, failpoint, flags, &[])
}

/// As `crash_with`, with flags of `run` (`--jobs`).
fn crash_running(test: &Test, failpoint: &str, flags: &[&str], run_flags: &[&str]) -> String {
    let output = test
        .command()
        .args(["--inventory", "inventory.yaml"])
        .args(flags)
        .args(["run", "fleet-rotation", "--yes"])
        .args(run_flags)
        .env("RUNBOOK_FAILPOINT", failpoint)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn runbook");
    assert_eq!(
        output.status.code(),
        None,
        "{failpoint}: the run was killed, not finished: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(test.read(".runbook/active"))
        .expect("active marker")
        .trim()
        .to_string()
}

/// What a kill between a remote write's temp file and its rename leaves on the host.
const LEFTOVER: &str = ".app.env.runbook-Ab12Cd.tmp";

#[test]
fn resume_finishes_a_killed_fleet_run_on_every_host_with_the_recorded_inventory() {
    let Some(hosts) = servers(3) else { return };
    let test = project(&hosts, ROTATION);
    // One step at a time, so that web2's edit is the only step the kill cuts off: with more,
    // web1's `seen` (an exec with no `check`) may be running too, and rightly be in doubt.
    let run_id = crash_running(
        &test,
        "after-effect:fleet-rotation/write@web2",
        &[],
        &["--jobs", "1"],
    );
    // web2's edit happened, its result was never journaled: `resume` must look at web2's
    // file to know it, and the new value must be the one the killed run generated.
    let written = env_value(&hosts[1].path("app.env"));
    assert_ne!(written, "old-token-value");
    std::fs::write(hosts[1].path(LEFTOVER), "a whole new version").unwrap();

    // No `--inventory`: the run remembers its own.
    let resumed = test.run_args(&["resume", &run_id, "--yes"]);
    resumed.expect_code(0);
    for host in &hosts {
        assert_eq!(
            std::fs::read_to_string(host.path("app.env")).unwrap(),
            ENV.replace("old-token-value", &written),
            "every host holds the one value the run generated"
        );
        assert_eq!(std::fs::read_to_string(host.path("seen")).unwrap(), written);
        assert!(
            std::fs::read_to_string(host.path("restarts"))
                .unwrap()
                .starts_with("restarted api\n")
        );
    }
    assert!(
        !hosts[1].path(LEFTOVER).exists(),
        "the remote temp file is swept"
    );
    assert!(
        resumed
            .stderr
            .contains("on web2 left by an interrupted edit"),
        "{}",
        resumed.stderr
    );
    for output in [&resumed.stdout, &resumed.stderr] {
        assert!(!output.contains(&written));
    }
}

#[test]
fn abort_restores_every_host_of_a_killed_fleet_run_byte_for_byte() {
    let Some(hosts) = servers(3) else { return };
    // Writing a marker is safe to redo or undo: `abort` need not ask whether it ran.
    let runbook = ROTATION.replace("  - id: seen\n", "  - id: seen\n    idempotent: true\n");
    let test = project(&hosts, &runbook);
    let run_id = crash(&test, "after-effect:fleet-rotation/seen@web2");
    assert_ne!(env_value(&hosts[1].path("app.env")), "old-token-value");
    let after_crash: Vec<String> = hosts
        .iter()
        .map(|h| std::fs::read_to_string(h.path("app.env")).unwrap())
        .collect();

    // Another inventory than the run's is refused, and so is one that lost a host the run
    // changed: nothing is touched either time.
    let inventory = String::from_utf8(test.read("inventory.yaml")).unwrap();
    test.write("other.yaml", inventory.as_bytes());
    let other = test.run_args(&["--inventory", "other.yaml", "abort", &run_id, "--yes"]);
    other.expect_code(2);
    assert!(
        other.stderr.contains("started with `--inventory"),
        "{}",
        other.stderr
    );
    let start = inventory.find("    web2:").unwrap();
    let end = inventory[start..].find("    web3:").unwrap() + start;
    test.write(
        "inventory.yaml",
        format!("{}{}", &inventory[..start], &inventory[end..]).as_bytes(),
    );
    let dropped = test.run_args(&["abort", &run_id, "--yes"]);
    dropped.expect_code(2);
    assert!(
        dropped.stderr.contains("changed host `web2`"),
        "{}",
        dropped.stderr
    );
    for (host, before) in hosts.iter().zip(&after_crash) {
        assert_eq!(
            &std::fs::read_to_string(host.path("app.env")).unwrap(),
            before
        );
    }

    test.write("inventory.yaml", inventory.as_bytes());
    let aborted = test.run_args(&["abort", &run_id, "--yes"]);
    aborted.expect_code(0);
    for host in &hosts {
        assert_eq!(
            std::fs::read_to_string(host.path("app.env")).unwrap(),
            ENV,
            "byte for byte"
        );
    }
    assert!(
        !test.path().join(".runbook/active").exists(),
        "the run is over"
    );
}

/// The rotation one host at a time: when the kill comes, no other host is mid-step (a
/// remote command cut off from its `ssh` may still finish on its host).
fn one_at_a_time() -> String {
    ROTATION.replace("on: api\n", "on: api\nserial: 1\n")
}

/// Every host's env file, in host order.
fn env_files(hosts: &[common::sshd::Sshd]) -> Vec<String> {
    hosts
        .iter()
        .map(|h| std::fs::read_to_string(h.path("app.env")).unwrap())
        .collect()
}

#[test]
fn a_killed_run_with_limit_is_resumed_on_its_limited_hosts_only() {
    let Some(hosts) = servers(3) else { return };
    let test = project(&hosts, &one_at_a_time());
    let run_id = crash_with(
        &test,
        "after-effect:fleet-rotation/write@web3",
        &["--limit", "web1:web3"],
    );
    let after_crash = env_files(&hosts);
    let written = env_value(&hosts[2].path("app.env"));
    assert_ne!(written, "old-token-value");

    // Another limit than the run's is refused, nothing touched; the same one is accepted.
    let other = test.run_args(&["--limit", "web2", "resume", &run_id, "--yes"]);
    other.expect_code(2);
    assert!(
        other
            .stderr
            .contains("started with `--limit web1:web3`, not `web2`"),
        "{}",
        other.stderr
    );
    assert_eq!(env_files(&hosts), after_crash);

    let resumed = test.run_args(&["--limit", "web1:web3", "resume", &run_id, "--yes"]);
    resumed.expect_code(0);
    for i in [0, 2] {
        assert_eq!(
            std::fs::read_to_string(hosts[i].path("app.env")).unwrap(),
            ENV.replace("old-token-value", &written)
        );
        assert_eq!(
            std::fs::read_to_string(hosts[i].path("seen")).unwrap(),
            written
        );
    }
    assert_eq!(
        std::fs::read_to_string(hosts[1].path("app.env")).unwrap(),
        ENV,
        "web2 is outside the run's limit"
    );
    assert!(!hosts[1].path("seen").exists() && !hosts[1].path("restarts").exists());
    assert!(!resumed.stdout.contains("@web2"), "{}", resumed.stdout);
}

#[test]
fn a_killed_run_with_limit_is_aborted_on_its_limited_hosts_only() {
    let Some(hosts) = servers(3) else { return };
    let test = project(&hosts, &one_at_a_time());
    let run_id = crash_with(
        &test,
        "after-effect:fleet-rotation/write@web2",
        &["--limit", "web2,web3"],
    );
    assert_ne!(env_value(&hosts[1].path("app.env")), "old-token-value");
    // web1 is outside the limit: whatever happens to it here is not the run's to undo.
    let outside = ENV.replace("old-token-value", "changed-by-someone-else");
    std::fs::write(hosts[0].path("app.env"), &outside).unwrap();
    let other = test.run_args(&["--limit", "all", "abort", &run_id, "--yes"]);
    other.expect_code(2);
    assert!(
        other.stderr.contains("started with `--limit web2,web3`"),
        "{}",
        other.stderr
    );

    // No `--limit`: the run uses its own.
    let aborted = test.run_args(&["abort", &run_id, "--yes"]);
    aborted.expect_code(0);
    assert_eq!(
        env_files(&hosts),
        [outside, ENV.to_string(), ENV.to_string()]
    );
    assert!(!aborted.stdout.contains("@web1"), "{}", aborted.stdout);
    assert!(!hosts[0].path("restarts").exists());
}
