//! End to end on the demo deployment: the shipped `jwt-rotation` and `compromise` runbooks,
//! run by the real binary against the real demo service through its real restart driver.

mod common;
use common::operator;
#[path = "demo_service/support.rs"]
mod support;

use base64::Engine;
use support::{Deployment, get, token};

fn starts(demo: &Deployment) -> usize {
    demo.log().matches("demo-service listening on").count()
}

fn forms(secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![secret.to_string(), b64.encode(secret), hex::encode(secret)]
}

#[test]
fn jwt_rotation_on_the_demo_keeps_old_tokens_valid_until_retire_then_refuses_them() {
    let demo = Deployment::new();
    demo.configure("");
    demo.restart_ok(&["api"]);
    let old_token = token(demo.port);
    assert_eq!(get(demo.port, "/whoami", Some(&old_token)).0, 200);
    let before = demo.env();
    let (code, stdout) = demo.runbook(&["run", "jwt-rotation", "--yes"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("waiting for retire"), "{stdout}");
    let after = demo.env();
    assert_ne!(before.get("JWT_SECRET"), after.get("JWT_SECRET"));
    assert_eq!(after.get("JWT_SECRET_PREVIOUS"), before.get("JWT_SECRET"));
    // The overlap: a token minted before the rotation still works, and so does a new one.
    assert_eq!(
        get(demo.port, "/whoami", Some(&old_token)).0,
        200,
        "the old token is still accepted during the overlap"
    );
    let new_token = token(demo.port);
    assert_eq!(get(demo.port, "/whoami", Some(&new_token)).0, 200);
    let (code, stdout) = demo.runbook(&["retire", "jwt", "--now", "--yes"]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(demo.env().get("JWT_SECRET_PREVIOUS"), None);
    assert_eq!(
        get(demo.port, "/whoami", Some(&old_token)).0,
        401,
        "the old token is rejected once retired"
    );
    assert_eq!(
        get(demo.port, "/whoami", Some(&new_token)).0,
        200,
        "a token minted during the overlap stays valid"
    );
    let new = after.get("JWT_SECRET").unwrap();
    assert!(!stdout.contains(&new) && !stdout.contains(&before.get("JWT_SECRET").unwrap()));
    let (_, history) = demo.runbook(&["history"]);
    assert!(
        history.contains("waiting_for_retire activate")
            && history.contains("rotated            retire"),
        "{history}"
    );
}

#[test]
fn compromise_of_jwt_rotates_jwt_and_session_restarts_once_and_reports_without_secrets() {
    let demo = Deployment::new();
    demo.configure("");
    demo.restart_ok(&["api"]);
    let before_text = std::fs::read_to_string(demo.env_file()).unwrap();
    let before = demo.env();
    let old_token = token(demo.port);
    // The operator's findings go into the report, quoted, even when they paste the leaked
    // value itself, which is masked there like everywhere else.
    let findings = demo.dir.path().join("findings.txt");
    std::fs::write(
        &findings,
        format!(
            "tokens signed from 203.0.113.7 at 01:00; key was {}\n",
            before.get("JWT_SECRET").unwrap()
        ),
    )
    .unwrap();
    let findings = format!("findings=@{}", findings.display());
    let first = demo.runbook(&[
        "run",
        "compromise",
        "--secret",
        "JWT_SECRET",
        "--input",
        "since=2026-11-20T00:00Z",
        "--input",
        &findings,
        "--yes",
    ]);
    // Notifying the affected users is the operator's: the unattended run waits for it, and
    // `resume --done` says it is done.
    let (code, stdout, answered) = operator::by_hand(first, |args| demo.runbook(args));
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(answered, ["compromise/notify"], "{stdout}");
    let after_text = std::fs::read_to_string(demo.env_file()).unwrap();
    let after = demo.env();
    for key in ["JWT_SECRET", "SESSION_SECRET"] {
        assert_ne!(before.get(key), after.get(key), "{key} rotated");
    }
    let changed: Vec<&str> = before_text
        .lines()
        .zip(after_text.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.split('=').next().unwrap())
        .collect();
    assert_eq!(
        changed,
        ["JWT_SECRET", "SESSION_SECRET"],
        "only the two secrets changed"
    );
    assert_eq!(
        starts(&demo),
        2,
        "started once by the test, restarted once by the run:\n{}",
        demo.log()
    );
    assert_eq!(get(demo.port, "/whoami", Some(&old_token)).0, 401);
    let report = std::fs::read_dir(demo.dir.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("incident-"))
        .expect("the incident report was written");
    let report = std::fs::read_to_string(report.path()).unwrap();
    assert!(
        report.contains("| `jwt` | JWT_SECRET, JWT_SECRET_PREVIOUS | rotated |")
            && report.contains("| `session` | SESSION_SECRET, SESSION_SECRET_PREVIOUS | rotated |"),
        "{report}"
    );
    assert!(
        report.contains("2026-11-20T00:00Z"),
        "the exposure window is in the report"
    );
    assert!(
        report.contains("**findings:**\n\n> tokens signed from 203.0.113.7 at 01:00; key was "),
        "the operator's findings are quoted in the report:\n{report}"
    );
    for key in ["JWT_SECRET", "SESSION_SECRET"] {
        for value in [before.get(key).unwrap(), after.get(key).unwrap()] {
            for form in forms(&value) {
                assert!(
                    !report.contains(&form) && !stdout.contains(&form),
                    "a secret of {key} leaked"
                );
            }
        }
    }
}

#[test]
fn jwt_and_session_rotations_keep_the_old_key_until_retire_then_refuse_it() {
    let demo = Deployment::new();
    demo.configure("");
    demo.restart_ok(&["api"]);
    // JWT in two phases: both keys verify during the overlap, then only the new one.
    for (command, runbook, accepted, refused) in [
        (
            &["run", "jwt-rotation", "--yes"][..],
            "jwt-rotation",
            "new-key-accepted",
            "old-key-still-accepted",
        ),
        (
            &["retire", "jwt", "--now", "--yes"],
            "jwt-rotation",
            "new-key-still-accepted",
            "previous-key-refused",
        ),
        (
            &["run", "session-rotation", "--yes"],
            "session-rotation",
            "new-secret-accepted",
            "old-secret-still-accepted",
        ),
        (
            &["retire", "session", "--now", "--yes"],
            "session-rotation",
            "new-secret-still-accepted",
            "previous-secret-refused",
        ),
    ] {
        let (code, output) = demo.runbook(command);
        assert_eq!(code, 0, "{output}");
        for step in [accepted, refused] {
            assert!(
                output.contains(&format!("✓ {runbook}/{step} (verify)")),
                "{step} ran and passed:\n{output}"
            );
        }
    }
}

/// A driver that does not reload the service (like `docker compose restart`, which keeps the
/// old environment) leaves the old key live: the rotation must fail and put the file back,
/// not report success.
#[test]
fn a_restart_that_keeps_the_old_key_live_fails_the_rotation() {
    let demo = Deployment::new();
    demo.configure("");
    demo.restart_ok(&["api"]);
    let config = demo.dir.path().join("runbook.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let (head, _) = text.split_once("restart:").unwrap();
    std::fs::write(
        &config,
        format!("{head}  health_interval: 10ms\nrestart:\n  run: \"true\"\n"),
    )
    .unwrap();
    for (runbook, refused) in [
        // The old key verifies during the overlap: what fails is the new one.
        ("jwt-rotation", "new-key-accepted"),
        ("session-rotation", "new-secret-accepted"),
    ] {
        let before = std::fs::read(demo.env_file()).unwrap();
        let (code, output) = demo.runbook(&["run", runbook, "--yes"]);
        assert_eq!(code, 1, "{output}");
        assert!(
            output.contains(&format!("✗ {runbook}/{refused} (verify)")),
            "{output}"
        );
        assert_eq!(std::fs::read(demo.env_file()).unwrap(), before);
    }
}
