//! Provider runbooks end by proving the old credential is refused, through the configured
//! check command (here a stand-in that accepts one key, the way the provider's API would):
//! a refusal passes, and a provider that still accepts the old key fails the run (back to
//! the old key, which still works) instead of reporting a rotation.

#[path = "common/operator.rs"]
mod operator;
#[path = "demo_service/support.rs"]
mod support;

use support::Deployment;

const NEW_KEY: &str = "sk-ant-new-key-CANARY-0123456789";

/// `accepts`: the shell test the stand-in API applies to the headers it reads on stdin.
fn deployment(accepts: &str) -> Deployment {
    let demo = Deployment::new();
    std::fs::write(demo.dir.path().join("key"), NEW_KEY).unwrap();
    // Exit 22 is curl -f's answer to an HTTP error status such as 401.
    std::fs::write(
        demo.dir.path().join("api.sh"),
        format!("headers=$(cat)\nif {accepts}; then exit 0; else exit 22; fi\n"),
    )
    .unwrap();
    demo.configure("  anthropic_verify_command: sh api.sh\n  revocation_check_interval: 10ms\n");
    demo.restart_ok(&["api"]);
    demo
}

/// The rotation, unattended; each manual step it stops at is answered with `resume --done`
/// (the operator did it), the rollback's manual step too.
fn rotate(demo: &Deployment) -> (i32, String) {
    let first = runbook(
        demo,
        &[
            "run",
            "anthropic-key-rotation",
            "--yes",
            "--input",
            "anthropic_api_key=@key",
        ],
    );
    let (code, output, _) = operator::by_hand(first, |args| runbook(demo, args));
    (code, output)
}

fn runbook(demo: &Deployment, args: &[&str]) -> (i32, String) {
    let (code, text) = demo.runbook(args);
    assert!(!text.contains(NEW_KEY), "the key is never shown");
    (code, text)
}

#[test]
fn the_run_ends_by_proving_the_old_key_is_refused() {
    let demo = deployment(&format!("printf '%s' \"$headers\" | grep -q '{NEW_KEY}'"));
    let (code, output) = rotate(&demo);
    assert_eq!(code, 0, "{output}");
    let last_step = output
        .lines()
        .rfind(|l| l.contains(" ✓ anthropic-key-rotation/"))
        .unwrap();
    assert!(last_step.contains("old-key-refused (verify)"), "{output}");
}

#[test]
fn a_provider_that_still_accepts_the_old_key_fails_the_run() {
    let demo = deployment("true");
    let (code, output) = rotate(&demo);
    // The old key still works, so going back to it leaves a working system; the key created
    // for the run is the operator's to delete, so unattended that is reported not undone.
    assert_eq!(code, 3, "{output}");
    assert!(
        output.contains("anthropic-key-rotation/key: NOT undone: awaiting the operator"),
        "{output}"
    );
    assert!(
        output.contains("the Anthropic API still accepts the old key"),
        "{output}"
    );
    assert!(
        output.contains("✗ anthropic-key-rotation/old-key-refused"),
        "{output}"
    );
}
