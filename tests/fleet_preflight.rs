//! Preflight on inventory hosts, over real sshd: a host's env file that lacks a key the run
//! sets, or is missing, is refused before any host changes.

mod common;

use common::fleet::{ENV, ROTATION, one_text, project, servers, with_inventory};

#[test]
fn a_missing_key_or_env_file_on_a_host_is_refused_before_any_host_changes() {
    let Some(hosts) = servers(3) else { return };
    let test = project(&hosts, ROTATION);
    let without_key = ENV.replace("export TOKEN=old-token-value\n", "");
    std::fs::write(hosts[1].path("app.env"), &without_key).unwrap();
    std::fs::remove_file(hosts[2].path("app.env")).unwrap();
    let run = with_inventory(&test, &[], &["run", "fleet-rotation", "--yes"]);
    run.expect_code(2);
    let said = one_text(&run.stderr);
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

/// A rotation in two phases on every host: the activate phase keeps the old value beside the
/// new one, the retire phase drops it.
const TWO_PHASES: &str = r#"name: fleet-rotation
secret: { id: token, env: [TOKEN, TOKEN_PREVIOUS], every: 90d, impact: none, overlap: 7d }
on: api
steps:
  - id: new
    generate: { bytes: 24, encoding: hex }
  - id: write
    needs: [new]
    env: { set: { TOKEN: "{{ steps.new.value }}", TOKEN_PREVIOUS: "old-token-value" }, append: true }
  - id: drop-previous
    phase: retire
    env: { unset: [TOKEN_PREVIOUS] }
"#;

#[test]
fn retire_refuses_a_missing_env_file_on_a_host_before_any_host_changes() {
    let Some(hosts) = servers(2) else { return };
    let test = project(&hosts, TWO_PHASES);
    let run = with_inventory(&test, &[], &["run", "fleet-rotation", "--yes"]);
    run.expect_code(0);
    assert!(run.stdout.contains("waiting for retire"), "{}", run.stdout);
    let activated = std::fs::read_to_string(hosts[0].path("app.env")).unwrap();
    assert!(activated.contains("TOKEN_PREVIOUS="), "{activated}");
    let audit_before = test.read(".runbook/audit.jsonl");
    std::fs::remove_file(hosts[1].path("app.env")).unwrap();

    let retire = ["retire", "token", "--now", "--yes"];
    let refused = with_inventory(&test, &[], &retire);
    refused.expect_code(2);
    let said = one_text(&refused.stderr);
    let web2 = format!(
        "step `fleet-rotation/drop-previous@web2`: env file `{}` on web2 does not exist",
        hosts[1].path("app.env").display()
    );
    assert!(said.contains(&web2), "{said}");
    assert_eq!(
        std::fs::read_to_string(hosts[0].path("app.env")).unwrap(),
        activated,
        "web1 was not touched"
    );
    assert_eq!(test.read(".runbook/audit.jsonl"), audit_before);
    let status = with_inventory(&test, &[], &["status"]);
    assert!(
        status.stdout.contains("waiting for retire"),
        "{}",
        status.stdout
    );

    // Once the file is back, the same command retires on every host.
    std::fs::write(hosts[1].path("app.env"), &activated).unwrap();
    let retired = with_inventory(&test, &[], &retire);
    retired.expect_code(0);
    for host in &hosts {
        let env = std::fs::read_to_string(host.path("app.env")).unwrap();
        assert!(!env.contains("TOKEN_PREVIOUS"), "{env}");
    }
}
