//! Hosts run in the order the inventory lists them, as Ansible runs them: `serial` batches
//! take hosts in that order (after `--limit`), and `plan` shows it.

mod common;

use common::Test;
use common::fleet::{ROTATION, project_named, servers, with_inventory};

fn serial_one() -> String {
    ROTATION.replace("on: api\n", "on: api\nserial: 1\n")
}

/// The hosts in the order their first step started.
fn started_order(stdout: &str) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for line in stdout.lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        if event["event"] != "step_started" {
            continue;
        }
        if let Some(host) = event["host"].as_str()
            && !order.iter().any(|h| h == host)
        {
            order.push(host.to_string());
        }
    }
    order
}

#[test]
fn batches_follow_the_inventory_order_not_the_sorted_one() {
    let Some(hosts) = servers(3) else { return };
    // Sorted, these would be web10, web2, web3.
    let names = ["web3", "web10", "web2"].map(String::from);
    let test = project_named(&hosts, &names, &serial_one());
    let plan = with_inventory(&test, &[], &["plan", "fleet-rotation"]);
    plan.expect_code(0);
    assert!(
        plan.stdout.contains(
            "hosts in 3 batches (serial), each after the one before: web3 | web10 | web2;"
        ),
        "{}",
        plan.stdout
    );
    let limited = with_inventory(
        &test,
        &["--limit", "web2:web3"],
        &["plan", "fleet-rotation"],
    );
    limited.expect_code(0);
    assert!(
        limited
            .stdout
            .contains("each after the one before: web3 | web2;"),
        "{}",
        limited.stdout
    );
    let run = with_inventory(
        &test,
        &[],
        &["run", "fleet-rotation", "--yes", "--format", "json"],
    );
    run.expect_code(0);
    assert_eq!(started_order(&run.stdout), names);
}

#[test]
fn the_configs_hosts_keep_the_order_they_are_written_in() {
    let hosts = "hosts:\n  zeta: { address: 127.0.0.1, vars: { env_file: z.env, svc: z } }\n  alpha: { address: 127.0.0.1, vars: { env_file: a.env, svc: a } }\n  mid: { address: 127.0.0.1, vars: { env_file: m.env, svc: m } }\ngroups:\n  api: { hosts: [alpha, mid, zeta] }\n";
    let test = Test::new()
        .file(
            "runbook.yaml",
            &format!(
                "runbooks: runbooks/\nrestart:\n  run: echo {{{{ services | join(' ') }}}}\n{hosts}"
            ),
        )
        .file("runbooks/fleet.yaml", &serial_one());
    let plan = test.run_args(&["plan", "fleet-rotation"]);
    plan.expect_code(0);
    assert!(
        plan.stdout
            .contains("each after the one before: zeta | alpha | mid;"),
        "{}",
        plan.stdout
    );
}
