//! The agent enrollment runbook through the real binary on the demo deployment, in an
//! incident: the leaked secret is refused in the same run, never kept as a previous one, and
//! the operator is still asked to update the installers. (Its two phases under load are in
//! `e2e_bluegreen.rs`.)

mod common;
#[path = "demo_service/support.rs"]
mod support;

use support::{Deployment, get};

#[test]
fn an_incident_refuses_the_leaked_secret_in_the_same_run() {
    let demo = Deployment::new();
    demo.configure("");
    demo.restart_ok(&["api"]);
    let leaked = demo.env().get("AGENT_ENROLLMENT_SECRET").unwrap();
    assert_eq!(get(demo.port, "/enroll", Some(&leaked)).0, 200);
    let first = demo.runbook(&["run", "compromise", "--secret", "agent-enrollment", "--yes"]);
    let (code, output, answered) = common::operator::by_hand(first, |args| demo.runbook(args));
    assert_eq!(code, 0, "{output}");
    assert!(!output.contains("waiting for retire"), "{output}");
    assert!(
        output.contains("✓ agent-enrollment-secret-rotation/old-secret-refused (verify)"),
        "{output}"
    );
    assert!(
        output.contains("The leaked secret is already refused"),
        "{output}"
    );
    for step in ["update-deployments", "check-enrollment"] {
        let step = format!("agent-enrollment-secret-rotation/{step}");
        assert!(answered.contains(&step), "{answered:?}");
    }
    assert_eq!(get(demo.port, "/enroll", Some(&leaked)).0, 401);
    let secret = demo.env().get("AGENT_ENROLLMENT_SECRET").unwrap();
    assert_ne!(secret, leaked);
    assert_eq!(get(demo.port, "/enroll", Some(&secret)).0, 200);
    assert_eq!(demo.env().get("AGENT_ENROLLMENT_SECRET_PREVIOUS"), None);
}
