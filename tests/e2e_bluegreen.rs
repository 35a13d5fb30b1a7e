//! Zero-downtime restarts, proven under load: the real `runbook` rotates secrets of the demo
//! deployment through its real restart driver while `demo-load` keeps requesting it. With the
//! blue/green driver no request fails; with the plain recreate driver some do.

#[path = "demo_service/load.rs"]
mod load;
#[path = "demo_service/support.rs"]
mod support;

use load::{Load, Report};
use support::{Deployment, get, token};

/// Runs `runbooks` one after another on a demo restarted by `mode`, under load.
fn rotate_under_load(mode: &str, runbooks: &[&str]) -> (Deployment, Report) {
    let demo = Deployment::new();
    demo.restart_mode(mode);
    demo.configure("");
    demo.restart_ok(&["api"]);
    let load = Load::start(demo.dir.path(), demo.port, &demo.env_file(), &[]);
    for runbook in runbooks {
        let (code, output) = demo.runbook(&["run", runbook, "--yes"]);
        assert_eq!(code, 0, "{runbook}: {output}\nlog:\n{}", demo.log());
    }
    let report = load.finish();
    eprintln!("{mode} {runbooks:?}: {report}");
    (demo, report)
}

#[test]
fn jwt_and_session_rotations_with_blue_green_restarts_fail_no_request_under_load() {
    let (demo, report) = rotate_under_load("bluegreen", &["jwt-rotation", "session-rotation"]);
    assert_eq!(report.total("failed"), 0, "{report}\nlog:\n{}", demo.log());
    // The load met the first instance and, in its last round after both runs, the third:
    // it spanned both restarts.
    assert_eq!(report.0["instances"], 3, "{report}");
    let log = demo.log();
    assert_eq!(
        log.matches("socket taken over").count(),
        2,
        "each restart handed the listening socket on:\n{log}"
    );
    assert_eq!(log.matches("demo-service stopped").count(), 2, "{log}");
    // jwt-rotation and session-rotation are two-phase now: the old value keeps verifying
    // (JWT_SECRET_PREVIOUS, SESSION_SECRET_PREVIOUS) until `retire`, so no credential minted
    // before the rotation is refused during it.
    for check in ["token_before", "session_before"] {
        assert_eq!(report.check(check, "rejected"), 0, "{check}: {report}");
    }
    assert_eq!(get(demo.port, "/whoami", Some(&token(demo.port))).0, 200);
}

/// The contrast: stop-then-start refuses connections until the new process listens. The
/// driver polls every 100 ms for the old process to be gone, so the port stays closed for at
/// least that long, during which a load making a request every few milliseconds is refused.
#[test]
fn the_recreate_driver_fails_requests_during_the_same_rotation() {
    let (demo, report) = rotate_under_load("recreate", &["jwt-rotation"]);
    assert!(report.total("failed") > 0, "{report}\nlog:\n{}", demo.log());
    assert_eq!(report.0["instances"], 2, "{report}");
}
