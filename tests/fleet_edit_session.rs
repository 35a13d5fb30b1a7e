//! Preflight reads each host's env file in a session that the first edit of that file takes
//! up (`tests/fleet_sessions.rs` counts it). The edit must still work from what the file
//! holds when it runs, not from what preflight read: here a step on the host changes the
//! file in between, through the real binary and real sshd servers. A file the session cannot
//! read is refused by preflight, before any host changes.

mod common;

use common::fleet::{ENV, env_value, one_text, project, servers, with_inventory};

/// A rotation whose first step changes another line of the env file on each host after
/// preflight has read it; `fail` makes the check fail on the first host.
fn rotation(fail: bool) -> String {
    format!(
        r#"name: fleet-rotation
secret: {{ id: token, env: [TOKEN], every: 90d, impact: sessions drop }}
on: api
steps:
  - id: other
    exec: {{ run: "sed -i 's/kept as is/changed on the host/' {{{{ vars.env_file }}}}" }}
  - id: new
    generate: {{ bytes: 24, encoding: hex }}
  - id: write
    needs: [other, new]
    env: {{ set: {{ TOKEN: "{{{{ steps.new.value }}}}" }} }}
  - id: check
    needs: [write]
    verify:
      exec: {{ run: '{}' }}
"#,
        if fail { "false" } else { "true" }
    )
}

#[test]
fn an_edit_works_from_what_the_file_holds_when_it_runs_not_from_preflights_read() {
    let Some(hosts) = servers(2) else { return };
    let run = project(&hosts, &rotation(false))
        .args(&["--inventory", "inventory.yaml", "run", "fleet-rotation"])
        .run();
    run.expect_code(0);
    let value = env_value(&hosts[0].path("app.env"));
    assert_eq!(value.len(), 48, "a new hex value of 24 bytes");
    for host in &hosts {
        assert_eq!(
            std::fs::read_to_string(host.path("app.env")).unwrap(),
            ENV.replace("kept as is", "changed on the host")
                .replace("old-token-value", &value),
            "the edit kept the line changed after preflight"
        );
    }
}

#[test]
fn a_rollback_restores_what_the_edit_read_not_what_preflight_read() {
    let Some(hosts) = servers(1) else { return };
    let run = project(&hosts, &rotation(true))
        .args(&["--inventory", "inventory.yaml", "run", "fleet-rotation"])
        .run();
    run.expect_code(1);
    assert!(run.stdout.contains("check@web1"), "{}", run.stdout);
    // The `other` step has no rollback, so its change stays; the edit is undone exactly.
    assert_eq!(
        std::fs::read_to_string(hosts[0].path("app.env")).unwrap(),
        ENV.replace("kept as is", "changed on the host")
    );
}

#[test]
fn a_host_file_the_edit_session_cannot_read_is_refused_before_any_host_changes() {
    let Some(hosts) = servers(2) else { return };
    let test = project(&hosts, &rotation(false));
    // A folder where the env file should be: the host's session fails to read it.
    std::fs::remove_file(hosts[1].path("app.env")).unwrap();
    std::fs::create_dir(hosts[1].path("app.env")).unwrap();
    let run = with_inventory(&test, &[], &["run", "fleet-rotation", "--yes"]);
    run.expect_code(2);
    let said = one_text(&run.stderr);
    let expected = format!(
        "host `web2`: cannot read `{}`",
        hosts[1].path("app.env").display()
    );
    assert!(said.contains(&expected), "{said}");
    assert_eq!(
        std::fs::read_to_string(hosts[0].path("app.env")).unwrap(),
        ENV,
        "the other host was not changed"
    );
    assert!(
        !test.path().join(".runbook/runs").exists(),
        "no run was begun"
    );
}
