//! The metrics runbook through the real binary on the demo deployment: the Prometheus service
//! to recreate is configurable, one the deployment does not have is refused before anything
//! changes, and an incident refuses the leaked token in the same run. (Its two phases under
//! load are in `e2e_bluegreen.rs`.)

mod common;
#[path = "demo_service/support.rs"]
mod support;

use std::os::unix::fs::PermissionsExt;
use support::{Deployment, get};

/// The demo's `/metrics` checks the token; the driver's service list is a fixed one without
/// `prometheus`.
fn deployment() -> Deployment {
    let demo = Deployment::new();
    demo.configure("  metrics_token_file: token\n  services_command: printf 'api\\nworker\\n'\n");
    demo.restart_ok(&["api"]);
    demo
}

#[test]
fn a_prometheus_service_the_deployment_lacks_is_refused_before_anything_changes() {
    let demo = deployment();
    let before = std::fs::read(demo.env_file()).unwrap();
    let (code, output) = demo.runbook(&["run", "metrics-token-rotation", "--yes"]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("the deployment has no service 'prometheus' (it has: api worker)"),
        "{output}"
    );
    assert_eq!(std::fs::read(demo.env_file()).unwrap(), before);
    assert!(!demo.dir.path().join("token").exists());
}

#[test]
fn without_a_prometheus_service_only_the_api_is_recreated() {
    let demo = deployment();
    let before = demo.env().get("METRICS_SCRAPE_TOKEN");
    let (code, output) = demo.runbook(&[
        "run",
        "metrics-token-rotation",
        "--yes",
        "--var",
        "metrics_prometheus_service=",
    ]);
    assert_eq!(code, 0, "{output}");
    let restarts: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("▶ restart:"))
        .collect();
    assert_eq!(restarts.len(), 1, "{output}");
    assert!(!restarts[0].contains("prometheus"), "{output}");
    let token = std::fs::read_to_string(demo.dir.path().join("token")).unwrap();
    assert_eq!(demo.env().get("METRICS_SCRAPE_TOKEN"), Some(token));
    assert_ne!(demo.env().get("METRICS_SCRAPE_TOKEN"), before);
    let mode = std::fs::metadata(demo.dir.path().join("token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn an_incident_refuses_the_leaked_token_in_the_same_run() {
    let demo = deployment();
    // In the config, not `--var`: `resume` plans the run again from the same config.
    demo.configure("  metrics_token_file: token\n  metrics_prometheus_service: ''\n");
    let leaked = demo.env().get("METRICS_SCRAPE_TOKEN").unwrap();
    let first = demo.runbook(&["run", "compromise", "--secret", "metrics", "--yes"]);
    // The playbook's own manual steps (audit logs, notify) are answered as an operator would.
    let (code, output, _) = common::operator::by_hand(first, |args| demo.runbook(args));
    assert_eq!(code, 0, "{output}");
    assert!(!output.contains("waiting for retire"), "{output}");
    assert!(
        output.contains("✓ metrics-token-rotation/old-refused (verify)"),
        "{output}"
    );
    assert_eq!(get(demo.port, "/metrics", Some(&leaked)).0, 401);
    let token = demo.env().get("METRICS_SCRAPE_TOKEN").unwrap();
    assert_ne!(token, leaked);
    assert_eq!(get(demo.port, "/metrics", Some(&token)).0, 200);
    assert_eq!(demo.env().get("METRICS_SCRAPE_TOKEN_PREVIOUS"), None);
    let file = std::fs::read_to_string(demo.dir.path().join("token")).unwrap();
    assert_eq!(file, token);
}
