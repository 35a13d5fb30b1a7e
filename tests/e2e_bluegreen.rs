//! Zero-impact rotations, proven under load: the real `runbook` rotates secrets of the demo
//! deployment in two phases through its real blue/green restart driver while `demo-load` keeps
//! requesting it. The activate phase fails no request and refuses no credential, whenever it
//! was minted; the retire phase fails no request; only then is a pre-rotation credential
//! refused. With the plain recreate driver some requests fail.

mod common;
#[path = "demo_service/load.rs"]
mod load;
#[path = "demo_service/support.rs"]
mod support;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use load::Report;
use support::{Deployment, get, token};

/// A demo restarted by `mode`, its service running, configured with `vars` (indented
/// `  key: value` lines).
fn demo(mode: &str, vars: &str) -> Deployment {
    let demo = Deployment::new();
    demo.restart_mode(mode);
    demo.configure(vars);
    demo.restart_ok(&["api"]);
    demo
}

/// Runs `runbook ARGS` under the load of the clients' credentials as they are now; a run
/// that stops for a person is answered as an operator would.
fn under_load(demo: &Deployment, args: &[&str]) -> (String, Report) {
    load::under_load(demo, args, &[])
}

/// `session=s:VALUE.SIGNATURE` as Express's cookie-signature signs it, with `secret`.
fn session_cookie(secret: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(b"e2e");
    let signature =
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(mac.finalize().into_bytes());
    format!("session=s:e2e.{signature}")
}

/// `GET /session` with `cookie`; the status.
fn session_status(port: u16, cookie: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let request = format!(
        "GET /session HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code")
}

/// Asserts what a two-phase rotation's activate phase costs: nothing. Every check of the load
/// ran (tokens minted before and during it, a session, a scrape token and an enrollment secret
/// taken before it), none failed and none was refused, and the load spanned the restarts
/// (`instances` answered: one more than the restarts).
fn assert_no_impact(demo: &Deployment, report: &Report, instances: u64) {
    let checks = [
        "health",
        "token_before",
        "token_during",
        "session_before",
        "metrics_before",
        "enrollment_before",
    ];
    report.assert_no_impact(&checks, instances, &demo.log());
}

/// Asserts that no output of the runs nor the service's log shows any of `values`.
fn assert_never_shown(demo: &Deployment, outputs: &[&str], values: &[&str]) {
    let log = demo.log();
    for value in values {
        for shown in outputs.iter().chain([&log.as_str()]) {
            assert!(!shown.contains(value), "a secret is shown:\n{shown}");
        }
    }
}

/// Asserts what a retire phase costs clients that hold the value in use: nothing.
fn assert_retire_fails_nothing(demo: &Deployment, report: &Report) {
    assert_eq!(report.total("failed"), 0, "{report}\nlog:\n{}", demo.log());
    assert_eq!(report.total("rejected"), 0, "{report}");
}

#[test]
fn jwt_rotation_in_two_phases_with_blue_green_restarts_costs_clients_nothing_under_load() {
    let demo = demo("bluegreen", "");
    let before = token(demo.port);
    let (output, activated) = under_load(&demo, &["run", "jwt-rotation", "--yes"]);
    assert!(output.contains("waiting for retire"), "{output}");
    assert_no_impact(&demo, &activated, 2);
    assert_eq!(get(demo.port, "/whoami", Some(&before)).0, 200, "overlap");

    // The retire under load: clients that hold tokens of the new key see no failure.
    let (_, retired) = under_load(&demo, &["retire", "jwt", "--now", "--yes"]);
    assert_retire_fails_nothing(&demo, &retired);
    assert_eq!(
        get(demo.port, "/whoami", Some(&before)).0,
        401,
        "a token minted before the rotation is refused once retired"
    );
    assert_eq!(get(demo.port, "/whoami", Some(&token(demo.port))).0, 200);
    let log = demo.log();
    assert_eq!(log.matches("socket taken over").count(), 2, "{log}");
}

#[test]
fn session_rotation_in_two_phases_with_blue_green_restarts_costs_clients_nothing_under_load() {
    let demo = demo("bluegreen", "");
    let old_secret = demo.env().get("SESSION_SECRET").unwrap();
    let before = session_cookie(&old_secret);
    assert_eq!(session_status(demo.port, &before), 200);
    let (output, activated) = under_load(&demo, &["run", "session-rotation", "--yes"]);
    assert!(output.contains("waiting for retire"), "{output}");
    assert_no_impact(&demo, &activated, 2);
    assert_eq!(session_status(demo.port, &before), 200, "overlap");

    let (_, retired) = under_load(&demo, &["retire", "session", "--now", "--yes"]);
    assert_retire_fails_nothing(&demo, &retired);
    assert_eq!(
        session_status(demo.port, &before),
        401,
        "a session signed before the rotation is refused once retired"
    );
    let current = demo.env().get("SESSION_SECRET").unwrap();
    assert_eq!(session_status(demo.port, &session_cookie(&current)), 200);
}

#[test]
fn metrics_token_rotation_in_two_phases_with_blue_green_restarts_costs_scrapers_nothing_under_load()
{
    // The demo's restart driver maps `prometheus` to the demo service too, so the activate
    // phase restarts it twice: for the api, then for Prometheus once its token file changed.
    let demo = demo(
        "bluegreen",
        "  metrics_token_file: metrics_scrape_token\n  services_command: printf 'api\\nprometheus\\n'\n",
    );
    let old = demo.env().get("METRICS_SCRAPE_TOKEN").unwrap();
    let (output, activated) = under_load(&demo, &["run", "metrics-token-rotation", "--yes"]);
    assert!(output.contains("waiting for retire"), "{output}");
    assert_no_impact(&demo, &activated, 3);
    let new = demo.env().get("METRICS_SCRAPE_TOKEN").unwrap();
    assert_ne!(new, old);
    let file = std::fs::read_to_string(demo.dir.path().join("metrics_scrape_token")).unwrap();
    assert_eq!(
        file, new,
        "Prometheus's file holds the new token after the activate phase"
    );
    assert_eq!(get(demo.port, "/metrics", Some(&old)).0, 200, "overlap");
    assert_eq!(get(demo.port, "/metrics", Some(&new)).0, 200);

    let (retire_output, retired) = under_load(&demo, &["retire", "metrics", "--now", "--yes"]);
    assert_retire_fails_nothing(&demo, &retired);
    assert_never_shown(&demo, &[&output, &retire_output], &[&old, &new]);
    assert_eq!(
        get(demo.port, "/metrics", Some(&old)).0,
        401,
        "the pre-rotation token is refused once retired"
    );
    assert_eq!(get(demo.port, "/metrics", Some(&new)).0, 200);
    assert_eq!(demo.env().get("METRICS_SCRAPE_TOKEN_PREVIOUS"), None);
}

#[test]
fn agent_enrollment_rotation_in_two_phases_with_blue_green_restarts_costs_installers_nothing_under_load()
 {
    let demo = demo("bluegreen", "");
    let old = demo.env().get("AGENT_ENROLLMENT_SECRET").unwrap();
    let (output, activated) =
        under_load(&demo, &["run", "agent-enrollment-secret-rotation", "--yes"]);
    assert!(output.contains("waiting for retire"), "{output}");
    assert_no_impact(&demo, &activated, 2);
    let new = demo.env().get("AGENT_ENROLLMENT_SECRET").unwrap();
    assert_ne!(new, old);
    assert_eq!(get(demo.port, "/enroll", Some(&old)).0, 200, "overlap");

    // The retire asks the operator to confirm the installers carry the new secret, and to
    // enroll a test agent, before the old secret goes; `under_load` answers as they would.
    let (retire_output, retired) =
        under_load(&demo, &["retire", "agent-enrollment", "--now", "--yes"]);
    for asked in [
        "Every deployment script and MDM policy",
        "Enroll a test agent",
    ] {
        assert!(retire_output.contains(asked), "{retire_output}");
    }
    assert_retire_fails_nothing(&demo, &retired);
    assert_never_shown(&demo, &[&output, &retire_output], &[&old, &new]);
    assert_eq!(
        get(demo.port, "/enroll", Some(&old)).0,
        401,
        "the pre-rotation secret is refused once retired"
    );
    assert_eq!(get(demo.port, "/enroll", Some(&new)).0, 200);
}

/// The contrast: stop-then-start refuses connections until the new process listens. The
/// driver polls every 100 ms for the old process to be gone, so the port stays closed for at
/// least that long, during which a load making a request every few milliseconds is refused.
#[test]
fn the_recreate_driver_fails_requests_during_the_same_rotation() {
    let demo = demo("recreate", "");
    let (_, report) = under_load(&demo, &["run", "jwt-rotation", "--yes"]);
    assert!(report.total("failed") > 0, "{report}\nlog:\n{}", demo.log());
    assert_eq!(report.0["instances"], 2, "{report}");
}
