//! Compensation through the real binary: what a declared `rollback:` really does when a later
//! step fails.

mod common;

use common::Test;

#[test]
fn a_templated_rollback_restart_restarts_the_rendered_service() {
    let config = "restart:\n  run: 'echo \"{{ services | join(\",\") }}\" >> restarts.log'\n";
    let runbook = "name: deploy\nvars:\n  svc: api\nsteps:\n  - id: change\n    exec: { run: touch changed }\n    rollback: { restart: [\"{{ vars.svc }}\"] }\n  - id: fail\n    needs: [change]\n    exec: { run: 'exit 1' }\n";
    let test = Test::new()
        .file("runbook.yaml", config)
        .file("runbooks/deploy.yaml", runbook)
        .args(&["run", "deploy"]);
    let run = test.run();
    run.expect_code(1);
    assert_eq!(
        String::from_utf8(test.read("restarts.log")).unwrap(),
        "api\n",
        "the driver got the rendered service, not the template"
    );
    assert!(
        run.stdout.contains("everything was rolled back"),
        "{}",
        run.stdout
    );
}
