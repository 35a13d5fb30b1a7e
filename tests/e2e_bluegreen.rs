//! Zero-impact rotations, proven under load: the real `runbook` rotates secrets of the demo
//! deployment in two phases through its real blue/green restart driver while `demo-load` keeps
//! requesting it. The activate phase fails no request and refuses no credential, whenever it
//! was minted; the retire phase fails no request; only then is a pre-rotation credential
//! refused. With the plain recreate driver some requests fail.

#[path = "demo_service/load.rs"]
mod load;
#[path = "demo_service/support.rs"]
mod support;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use load::Report;
use support::{Deployment, get, token};

/// A demo restarted by `mode`, its service running.
fn demo(mode: &str) -> Deployment {
    let demo = Deployment::new();
    demo.restart_mode(mode);
    demo.configure("");
    demo.restart_ok(&["api"]);
    demo
}

/// Runs `runbook ARGS` under the load of the clients' credentials as they are now.
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
/// ran (tokens minted before and during it, a session signed before it), none failed and none
/// was refused, and the load spanned the restart (two instances answered).
fn assert_no_impact(demo: &Deployment, report: &Report) {
    let checks = ["health", "token_before", "token_during", "session_before"];
    report.assert_no_impact(&checks, &demo.log());
}

#[test]
fn jwt_rotation_in_two_phases_with_blue_green_restarts_costs_clients_nothing_under_load() {
    let demo = demo("bluegreen");
    let before = token(demo.port);
    let (output, activated) = under_load(&demo, &["run", "jwt-rotation", "--yes"]);
    assert!(output.contains("waiting for retire"), "{output}");
    assert_no_impact(&demo, &activated);
    assert_eq!(get(demo.port, "/whoami", Some(&before)).0, 200, "overlap");

    // The retire under load: clients that hold tokens of the new key see no failure.
    let (_, retired) = under_load(&demo, &["retire", "jwt", "--now", "--yes"]);
    assert_eq!(
        retired.total("failed"),
        0,
        "{retired}\nlog:\n{}",
        demo.log()
    );
    assert_eq!(retired.total("rejected"), 0, "{retired}");
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
    let demo = demo("bluegreen");
    let old_secret = demo.env().get("SESSION_SECRET").unwrap();
    let before = session_cookie(&old_secret);
    assert_eq!(session_status(demo.port, &before), 200);
    let (output, activated) = under_load(&demo, &["run", "session-rotation", "--yes"]);
    assert!(output.contains("waiting for retire"), "{output}");
    assert_no_impact(&demo, &activated);
    assert_eq!(session_status(demo.port, &before), 200, "overlap");

    let (_, retired) = under_load(&demo, &["retire", "session", "--now", "--yes"]);
    assert_eq!(
        retired.total("failed"),
        0,
        "{retired}\nlog:\n{}",
        demo.log()
    );
    assert_eq!(retired.total("rejected"), 0, "{retired}");
    assert_eq!(
        session_status(demo.port, &before),
        401,
        "a session signed before the rotation is refused once retired"
    );
    let current = demo.env().get("SESSION_SECRET").unwrap();
    assert_eq!(session_status(demo.port, &session_cookie(&current)), 200);
}

/// The contrast: stop-then-start refuses connections until the new process listens. The
/// driver polls every 100 ms for the old process to be gone, so the port stays closed for at
/// least that long, during which a load making a request every few milliseconds is refused.
#[test]
fn the_recreate_driver_fails_requests_during_the_same_rotation() {
    let demo = demo("recreate");
    let (_, report) = under_load(&demo, &["run", "jwt-rotation", "--yes"]);
    assert!(report.total("failed") > 0, "{report}\nlog:\n{}", demo.log());
    assert_eq!(report.0["instances"], 2, "{report}");
}
