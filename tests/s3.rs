//! The S3 runbook through the real binary on the demo deployment: the revoke instruction names
//! the old access key ID in clear (it identifies, it does not authenticate), the secret keys
//! never appear, and the new pair is checked by the configured command before anything changes.

#[path = "common/operator.rs"]
mod operator;
#[path = "demo_service/support.rs"]
mod support;

use support::{Deployment, get};

const OLD_ID: &str = "DEMOAKIA0000000EXAMPLE";
const NEW_ID: &str = "AKIANEWKEY0000EXAMPLE";
const NEW_SECRET: &str = "new-s3-secret-key-CANARY-0123456789";

fn deployment(extra_vars: &str) -> Deployment {
    let demo = Deployment::new();
    assert_eq!(demo.env().get("S3_ACCESS_KEY").as_deref(), Some(OLD_ID));
    std::fs::write(demo.dir.path().join("secret-key"), NEW_SECRET).unwrap();
    demo.configure(extra_vars);
    demo.restart_ok(&["api"]);
    assert_eq!(get(demo.port, "/health", None).0, 200);
    demo
}

fn runbook(demo: &Deployment, extra: &[&str]) -> (i32, String) {
    run(demo, &["run", "s3-keys-rotation", "--yes"], extra)
}

/// Runs `command` unattended and answers each manual step it stops at (see
/// `operator::by_hand`).
fn by_hand(demo: &Deployment, command: &[&str]) -> (i32, String, Vec<String>) {
    operator::by_hand(run(demo, command, &[]), |args| run_plain(demo, args))
}

/// `runbook ARGS...` with no input flags (`resume` reads the run's inputs from its journal).
fn run_plain(demo: &Deployment, args: &[&str]) -> (i32, String) {
    let (code, text) = demo.runbook(args);
    assert!(
        !text.contains(NEW_SECRET),
        "no secret key is shown:\n{text}"
    );
    (code, text)
}

/// `runbook COMMAND... --input <the new pair> EXTRA...`.
fn run(demo: &Deployment, command: &[&str], extra: &[&str]) -> (i32, String) {
    let pair = format!("s3_access_key={NEW_ID}");
    let mut args = command.to_vec();
    args.extend(["--input", &pair, "--input", "s3_secret_key=@secret-key"]);
    args.extend(extra);
    let (code, text) = demo.runbook(&args);
    let old_secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLE";
    assert!(
        !text.contains(NEW_SECRET) && !text.contains(old_secret),
        "no secret key is shown:\n{text}"
    );
    (code, text)
}

#[test]
fn the_revoke_instruction_names_the_old_access_key_id_in_clear() {
    let demo = deployment("  s3_verify_command: ''\n");
    let (code, output, answered) = by_hand(&demo, &["run", "s3-keys-rotation", "--yes"]);
    assert_eq!(code, 0, "{output}");
    assert_eq!(
        answered,
        [
            "s3-keys-rotation/probe-by-hand",
            "s3-keys-rotation/test-transfer",
            "s3-keys-rotation/revoke"
        ],
        "{output}"
    );
    // The view indents wrapped instruction lines; compare the words.
    let words = output.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains(&format!(
            "access key ID {OLD_ID}. Not the pair created by this run ({NEW_ID})"
        )),
        "the operator can tell which pair to delete:\n{output}"
    );
    let env = demo.env();
    assert_eq!(env.get("S3_ACCESS_KEY").as_deref(), Some(NEW_ID));
    assert_eq!(env.get("S3_SECRET_KEY").as_deref(), Some(NEW_SECRET));
}

/// The check command reads the new pair from its environment: here a script that records
/// which ID it got and whether the secret key arrived, and fails, so nothing may change.
#[test]
fn a_failing_check_of_the_new_pair_changes_nothing() {
    let demo = deployment(
        "  s3_verify_command: 'echo \"checked $AWS_ACCESS_KEY_ID ${AWS_SECRET_ACCESS_KEY:+with its secret}\" > checked; exit 1'\n",
    );
    let before = std::fs::read(demo.env_file()).unwrap();
    let (code, output) = runbook(&demo, &[]);
    // The pair created in the console is the operator's to delete: unattended, the run says
    // that rollback step is not done rather than claiming it.
    assert_eq!(code, 3, "{output}");
    assert!(
        output.contains("s3-keys-rotation/access: NOT undone: awaiting the operator"),
        "{output}"
    );
    assert_eq!(
        std::fs::read_to_string(demo.dir.path().join("checked")).unwrap(),
        format!("checked {NEW_ID} with its secret\n")
    );
    assert_eq!(std::fs::read(demo.env_file()).unwrap(), before);
}

/// In an incident the leaked pair is revoked as soon as the new one is live, before the
/// operator's transfer test; a routine rotation revokes only after it.
#[test]
fn a_compromise_revokes_the_leaked_pair_before_the_transfer_test() {
    let demo = deployment("  s3_verify_command: ''\n");
    let started = |output: &str, step: &str| {
        output
            .lines()
            .position(|l| l.contains(&format!("▶ s3-keys-rotation/{step} ")))
    };
    let (code, output, _) = by_hand(&demo, &["run", "compromise", "--secret", "s3", "--yes"]);
    assert_eq!(code, 0, "{output}");
    let revoke = started(&output, "revoke-first").expect("revoke-first ran");
    let test = started(&output, "test-transfer").expect("test-transfer ran");
    assert!(revoke < test, "revoked before the test:\n{output}");
    assert_eq!(started(&output, "revoke"), None, "revoked once:\n{output}");

    let (code, output, _) = by_hand(&demo, &["run", "s3-keys-rotation", "--yes"]);
    assert_eq!(code, 0, "{output}");
    assert_eq!(started(&output, "revoke-first"), None, "{output}");
    assert!(started(&output, "test-transfer") < started(&output, "revoke"));
}
