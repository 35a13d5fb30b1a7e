//! Preflight on inventory hosts, over real sshd: a host's env file that lacks a key the run
//! sets, or is missing, is refused before any host changes.

mod common;

use common::fleet::{ENV, ROTATION, project, servers};

#[test]
fn a_missing_key_or_env_file_on_a_host_is_refused_before_any_host_changes() {
    let Some(hosts) = servers(3) else { return };
    let test = project(&hosts, ROTATION);
    let without_key = ENV.replace("export TOKEN=old-token-value\n", "");
    std::fs::write(hosts[1].path("app.env"), &without_key).unwrap();
    std::fs::remove_file(hosts[2].path("app.env")).unwrap();
    let run = test.run_args(&[
        "--inventory",
        "inventory.yaml",
        "run",
        "fleet-rotation",
        "--yes",
    ]);
    run.expect_code(2);
    // The diagnostics wrap long lines behind a `│` margin: read them as one text.
    let said = run
        .stderr
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ");
    let web2 = format!(
        "step `fleet-rotation/write@web2`: key `TOKEN` is not in `{}` on web2",
        hosts[1].path("app.env").display()
    );
    let web3 = format!(
        "step `fleet-rotation/write@web3`: env file `{}` on web3 does not exist",
        hosts[2].path("app.env").display()
    );
    assert!(said.contains(&web2), "{said}");
    assert!(said.contains(&web3), "{said}");
    assert_eq!(
        std::fs::read_to_string(hosts[0].path("app.env")).unwrap(),
        ENV
    );
    assert_eq!(
        std::fs::read_to_string(hosts[1].path("app.env")).unwrap(),
        without_key
    );
    for host in &hosts {
        assert!(!host.path("seen").exists() && !host.path("restarts").exists());
    }
    assert!(
        !test.path().join(".runbook/runs").exists(),
        "no run was begun"
    );
}
