//! The metrics runbook through the real binary on the demo deployment: the Prometheus service
//! to recreate is configurable, and one the deployment does not have is refused before
//! anything changes.

#[path = "demo_service/support.rs"]
mod support;

use std::os::unix::fs::PermissionsExt;
use support::Deployment;

/// The demo has no `/metrics`, so the token checks are skipped (`metrics_path: ''`); the
/// driver's service list is a fixed one without `prometheus`.
fn deployment() -> Deployment {
    let demo = Deployment::new();
    demo.configure(
        "  metrics_path: ''\n  metrics_token_file: token\n  services_command: printf 'api\\nworker\\n'\n",
    );
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
