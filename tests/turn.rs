//! The TURN runbook through the real binary on the demo deployment: both copies of the secret
//! change together, and the run checks that the recreated coturn listens again (the demo
//! service's port stands in for coturn's) before the operator's relay check.

mod common;
#[path = "demo_service/support.rs"]
mod support;

use runbook::envfile::EnvFile;
use support::Deployment;

/// `turn_port`: where the runbook looks for coturn; `None` for the demo service's own port.
fn deployment(turn_port: Option<u16>) -> Deployment {
    let demo = Deployment::new();
    let turn_port = turn_port.unwrap_or(demo.port);
    std::fs::copy(
        common::repo().join("examples/demo/turnserver.conf.template"),
        demo.dir.path().join("turnserver.conf"),
    )
    .unwrap();
    demo.configure(&format!(
        "  turn_config: turnserver.conf\n  turn_port: \"{turn_port}\"\n  health_interval: 10ms\n"
    ));
    demo.restart_ok(&["api"]);
    demo
}

fn coturn_secret(demo: &Deployment) -> Option<String> {
    EnvFile::parse(&std::fs::read(demo.dir.path().join("turnserver.conf")).unwrap())
        .unwrap()
        .get("static-auth-secret")
}

#[test]
fn turn_rotation_changes_both_copies_and_checks_coturn_is_back() {
    // The demo service's own port: listening, like a recreated coturn.
    let demo = deployment(None);
    let before = demo.env().get("TURN_SECRET");
    // The relay check is the operator's: the run waits for it, `resume --done` answers it.
    let first = demo.runbook(&["run", "turn-secret-rotation", "--yes"]);
    let (code, output, answered) = common::operator::by_hand(first, |args| demo.runbook(args));
    assert_eq!(code, 0, "{output}");
    assert_eq!(answered.len(), 1, "{output}");
    let after = demo.env().get("TURN_SECRET");
    assert_ne!(after, before);
    assert_eq!(coturn_secret(&demo), after);
    assert!(
        output.contains("✓ turn-secret-rotation/coturn-listening (verify)"),
        "{output}"
    );
    assert!(output.contains("Check that coturn relays"), "{output}");
}

#[test]
fn a_coturn_that_does_not_come_back_rolls_the_rotation_back() {
    // Nothing listens on the discard port.
    let demo = deployment(Some(9));
    let env_before = std::fs::read(demo.env_file()).unwrap();
    let conf_before = std::fs::read(demo.dir.path().join("turnserver.conf")).unwrap();
    let (code, output) = demo.runbook(&["run", "turn-secret-rotation", "--yes"]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("✗ turn-secret-rotation/coturn-listening (verify)"),
        "{output}"
    );
    assert_eq!(std::fs::read(demo.env_file()).unwrap(), env_before);
    assert_eq!(
        std::fs::read(demo.dir.path().join("turnserver.conf")).unwrap(),
        conf_before
    );
}
