//! Password variables in an inventory are refused, never read: `runbook` logs in with keys
//! (ssh in batch mode), and a password kept as a template var could reach a plan or an
//! error. The refusal names the variable and the host or group, never the value.

mod common;

use common::Test;
use common::fleet::ROTATION;

const LOGIN: &str = "hunter2-login-password";
const BECOME: &str = "hunter2-become-password";

#[test]
fn an_inventory_with_password_variables_is_refused_without_showing_them() {
    let inventory = format!(
        "all:\n  children:\n    api:\n      vars:\n        ansible_become_password: {BECOME}\n      hosts:\n        web1:\n          ansible_host: 127.0.0.1\n          ansible_password: \"{LOGIN}\"\n          env_file: app.env\n          svc: .\n"
    );
    let test = Test::new()
        .file("inventory.yaml", &inventory)
        .file("runbook.yaml", "runbooks: runbooks/\n")
        .file("runbooks/fleet.yaml", ROTATION);
    for command in [
        &["validate"][..],
        &["plan", "fleet-rotation"],
        &["run", "fleet-rotation", "--yes"],
    ] {
        let run = test.run_args(&[&["--inventory", "inventory.yaml"][..], command].concat());
        run.expect_code(2);
        assert!(
            run.stderr.contains("runbook::inventory::password"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("`ansible_password`")
                || run.stderr.contains("`ansible_become_password`"),
            "{}",
            run.stderr
        );
        for output in [&run.stdout, &run.stderr] {
            assert!(
                !output.contains(LOGIN) && !output.contains(BECOME),
                "{output}"
            );
        }
    }
    assert!(!test.path().join(".runbook/runs").exists(), "no run began");

    // The config's own hosts are held to the same rule.
    let config = Test::new()
        .file(
            "runbook.yaml",
            &format!("runbooks: runbooks/\nhosts:\n  web1: {{ address: 127.0.0.1, vars: {{ ansible_ssh_pass: {LOGIN} }} }}\n"),
        )
        .file("runbooks/fleet.yaml", &ROTATION.replace("on: api", "on: web1"));
    let run = config.run_args(&["plan", "fleet-rotation"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("host `web1` sets `ansible_ssh_pass`"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(LOGIN) && !run.stdout.contains(LOGIN));
}
