//! `serial` and `max_fail` through the real binary and real sshd servers: hosts in batches,
//! a failure that stops the run before the next batch, and one that the budget tolerates.

mod common;

use common::fleet::{ENV, ROTATION, env_value, project, servers};

fn rolling(serial: &str, max_fail: &str) -> String {
    ROTATION.replace(
        "on: api\n",
        &format!("on: api\nserial: {serial}\nmax_fail: {max_fail}\n"),
    )
}

#[test]
fn serial_one_stops_at_the_failed_host_and_never_touches_the_next_batch() {
    let Some(hosts) = servers(3) else { return };
    std::fs::write(hosts[1].path("broken"), "").unwrap();
    let test = project(&hosts, &rolling("1", "0"));
    let plan = test.run_args(&["--inventory", "inventory.yaml", "plan", "fleet-rotation"]);
    plan.expect_code(0);
    assert!(
        plan.stdout.contains(
            "hosts in 3 batches (serial), each after the one before: web1 | web2 | web3; max_fail 0"
        ),
        "{}",
        plan.stdout
    );
    let run = test.run_args(&[
        "--inventory",
        "inventory.yaml",
        "run",
        "fleet-rotation",
        "--yes",
    ]);
    run.expect_code(1);
    assert!(run.stdout.contains("check@web2"), "{}", run.stdout);
    for host in &hosts {
        assert_eq!(std::fs::read_to_string(host.path("app.env")).unwrap(), ENV);
    }
    // web1 finished its batch, so it was restarted with the new value and again after
    // the restore; web3's batch never opened.
    assert_eq!(
        std::fs::read_to_string(hosts[0].path("restarts")).unwrap(),
        "restarted api\nrestarted api\n"
    );
    assert!(!hosts[2].path("seen").exists() && !hosts[2].path("restarts").exists());
    assert!(!run.stdout.contains("@web3"), "{}", run.stdout);
}

#[test]
fn max_fail_one_goes_on_past_a_failed_host_and_says_what_state_each_host_is_in() {
    let Some(hosts) = servers(3) else { return };
    std::fs::write(hosts[1].path("broken"), "").unwrap();
    let test = project(&hosts, &rolling("1", "1"));
    let run = test.run_args(&[
        "--inventory",
        "inventory.yaml",
        "run",
        "fleet-rotation",
        "--yes",
    ]);
    run.expect_code(3);
    let value = env_value(&hosts[0].path("app.env"));
    assert_ne!(value, "old-token-value");
    for host in &hosts {
        // web2's edit stays in effect: its verify failed after it, and nothing says the
        // host is as before.
        assert_eq!(
            std::fs::read_to_string(host.path("app.env")).unwrap(),
            ENV.replace("old-token-value", &value)
        );
    }
    assert_eq!(
        std::fs::read_to_string(hosts[2].path("restarts")).unwrap(),
        "restarted api\n",
        "the batch after the failed host ran"
    );
    assert!(
        run.stdout.contains(
            "1 of 3 hosts failed (max_fail 1); host web2 failed at `fleet-rotation/check@web2`"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("web1, web3 ran every step"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(&value));

    // The operator chooses: here, roll every host back.
    let run_id = String::from_utf8(test.read(".runbook/active")).unwrap();
    let aborted = test.run_args(&["abort", run_id.trim(), "--yes"]);
    aborted.expect_code(0);
    for host in &hosts {
        assert_eq!(std::fs::read_to_string(host.path("app.env")).unwrap(), ENV);
    }
}

#[test]
fn bad_serial_and_max_fail_values_are_refused_at_their_lines() {
    let Some(hosts) = servers(1) else { return };
    let run = project(&hosts, &rolling("0", "lots"))
        .args(&["--inventory", "inventory.yaml", "validate"])
        .run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("`serial: 0` puts no host in a batch"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("fleet.yaml:4"), "{}", run.stderr);
    assert!(
        run.stderr.contains("`max_fail`: `lots` is neither"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("fleet.yaml:5"), "{}", run.stderr);
    let local = project(&hosts, &rolling("1", "0").replace("on: api\n", ""))
        .args(&["--inventory", "inventory.yaml", "validate"])
        .run();
    local.expect_code(2);
    assert!(
        local.stderr.contains("`serial` needs the runbook's `on:`"),
        "{}",
        local.stderr
    );
    assert_eq!(
        std::fs::read_to_string(hosts[0].path("app.env")).unwrap(),
        ENV
    );
}

#[test]
fn resume_retries_the_host_that_failed_within_max_fail() {
    let Some(hosts) = servers(3) else { return };
    std::fs::write(hosts[1].path("broken"), "").unwrap();
    let test = project(&hosts, &rolling("\"50%\"", "1"));
    let run = test.run_args(&[
        "--inventory",
        "inventory.yaml",
        "run",
        "fleet-rotation",
        "--yes",
    ]);
    run.expect_code(3);
    assert!(run.stdout.contains("host web2 failed at"), "{}", run.stdout);
    // The operator repairs web2, then retries it; the others are not run again.
    std::fs::remove_file(hosts[1].path("broken")).unwrap();
    let run_id = String::from_utf8(test.read(".runbook/active")).unwrap();
    let resumed = test.run_args(&["resume", run_id.trim(), "--yes"]);
    resumed.expect_code(0);
    let value = env_value(&hosts[0].path("app.env"));
    for host in &hosts {
        assert_eq!(
            std::fs::read_to_string(host.path("app.env")).unwrap(),
            ENV.replace("old-token-value", &value)
        );
        assert_eq!(
            std::fs::read_to_string(host.path("restarts")).unwrap(),
            "restarted api\n",
            "each host restarted once"
        );
    }
    assert!(resumed.stdout.contains("check@web2"), "{}", resumed.stdout);
}
