//! The e-mail runbook picks the provider from the env file (the credential that is set), refuses
//! when that is ambiguous, and never adds another provider's variable unless one is named —
//! through the real binary on the demo deployment.

#[path = "demo_service/support.rs"]
mod support;

use runbook::envfile::EnvFile;
use std::process::{Command, Stdio};
use support::{Deployment, get};

const NEW_CREDENTIAL: &str = "new-email-credential-CANARY-42";

/// The demo deployment with only `keep` of the three providers' credentials in its env file.
fn deployment(keep: &[&str]) -> Deployment {
    let demo = Deployment::new();
    let mut env = demo.env();
    for key in ["RESEND_API_KEY", "MAILGUN_API_KEY", "SMTP_PASS"] {
        if !keep.contains(&key) {
            env.unset(key);
        }
    }
    std::fs::write(demo.env_file(), env.to_bytes()).unwrap();
    std::fs::write(demo.dir.path().join("credential"), NEW_CREDENTIAL).unwrap();
    demo.configure("");
    demo.restart_ok(&["api"]);
    assert_eq!(get(demo.port, "/health", None).0, 200);
    demo
}

/// `runbook ARGS` with the new credential from a file, as an operator would pass it.
fn runbook(demo: &Deployment, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(args)
        .args(["--input", "email_credential=@credential"])
        .current_dir(demo.dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains(NEW_CREDENTIAL),
        "the credential is never shown"
    );
    (out.status.code().unwrap_or(-1), text)
}

fn keys(env: &EnvFile) -> Vec<String> {
    env.keys().map(str::to_owned).collect()
}

#[test]
fn an_smtp_deployment_rotates_smtp_pass_and_gains_no_other_provider_key() {
    let demo = deployment(&["SMTP_PASS"]);
    let before = demo.env();
    let (code, output) = runbook(&demo, &["run", "email-credentials-rotation", "--yes"]);
    assert_eq!(code, 0, "{output}");
    let after = demo.env();
    assert_eq!(after.get("SMTP_PASS").as_deref(), Some(NEW_CREDENTIAL));
    assert_eq!(
        keys(&after),
        keys(&before),
        "no RESEND_API_KEY or MAILGUN_API_KEY appended"
    );
    assert_eq!(after.get("SMTP_USER"), before.get("SMTP_USER"));
    assert!(output.contains("Create a new smtp credential"), "{output}");
}

#[test]
fn a_mailgun_deployment_is_detected_too() {
    let demo = deployment(&["MAILGUN_API_KEY"]);
    let before = demo.env();
    let (code, output) = runbook(&demo, &["run", "email-credentials-rotation", "--yes"]);
    assert_eq!(code, 0, "{output}");
    let after = demo.env();
    assert_eq!(
        after.get("MAILGUN_API_KEY").as_deref(),
        Some(NEW_CREDENTIAL)
    );
    assert_eq!(keys(&after), keys(&before));
}

#[test]
fn several_providers_set_is_refused_before_anything_changes() {
    let demo = deployment(&["RESEND_API_KEY", "SMTP_PASS"]);
    let before = std::fs::read(demo.env_file()).unwrap();
    let (code, output) = runbook(&demo, &["run", "email-credentials-rotation", "--yes"]);
    assert_ne!(code, 0, "{output}");
    assert!(
        output
            .contains("cannot tell the e-mail provider: RESEND_API_KEY SMTP_PASS: several are set"),
        "{output}"
    );
    assert_eq!(std::fs::read(demo.env_file()).unwrap(), before);
}

#[test]
fn no_provider_set_is_refused_and_naming_one_adds_its_key() {
    let demo = deployment(&[]);
    let before = std::fs::read(demo.env_file()).unwrap();
    let (code, output) = runbook(&demo, &["run", "email-credentials-rotation", "--yes"]);
    assert_ne!(code, 0, "{output}");
    assert!(
        output.contains("none of RESEND_API_KEY, MAILGUN_API_KEY, SMTP_PASS is set"),
        "{output}"
    );
    assert_eq!(std::fs::read(demo.env_file()).unwrap(), before);

    let (code, output) = runbook(
        &demo,
        &[
            "run",
            "email-credentials-rotation",
            "--yes",
            "--input",
            "provider=resend",
        ],
    );
    assert_eq!(code, 0, "{output}");
    let after = demo.env();
    assert_eq!(after.get("RESEND_API_KEY").as_deref(), Some(NEW_CREDENTIAL));
    assert_eq!(after.get("SMTP_PASS"), None);
    assert_eq!(after.get("MAILGUN_API_KEY"), None);
}

/// A dry run on an SMTP-only env file lists only the edits that would happen, renders the
/// texts that name the provider, and shows the public SMTP_USER in clear.
#[test]
fn a_dry_run_shows_only_what_would_run_rendered_with_public_values_in_clear() {
    let demo = deployment(&["SMTP_PASS"]);
    let before = std::fs::read(demo.env_file()).unwrap();
    let (code, output) = runbook(
        &demo,
        &[
            "run",
            "email-credentials-rotation",
            "--dry-run",
            "--yes",
            "--input",
            "smtp_user=new-mailer@demo.invalid",
        ],
    );
    assert_eq!(code, 0, "{output}");
    assert!(!output.contains("RESEND_API_KEY:"), "{output}");
    assert!(!output.contains("MAILGUN_API_KEY:"), "{output}");
    assert!(!output.contains("write-resend —"), "{output}");
    let skipped = output
        .lines()
        .find(|l| l.contains("email-credentials-rotation/write-resend"))
        .unwrap();
    assert!(skipped.contains("skipped"), "{skipped}");
    assert!(output.contains("~ SMTP_PASS (line"), "{output}");
    assert!(
        output.contains("rmm-mailer@demo.invalid -> new-mailer@demo.invalid"),
        "{output}"
    );
    assert!(
        output.contains("rollback  operator: Delete the smtp credential you created"),
        "{output}"
    );
    assert!(!output.contains("{{") && !output.contains("{%"), "{output}");
    assert_eq!(std::fs::read(demo.env_file()).unwrap(), before);
}

/// `plan` knows which credentials are set (never their values), so it names the provider and
/// shows the other providers' writes as skipped.
#[test]
fn a_plan_names_the_detected_provider_and_skips_the_others() {
    let demo = deployment(&["SMTP_PASS"]);
    let secret = demo.env().get("SMTP_PASS").unwrap();
    let (code, output) = runbook(&demo, &["plan", "email-credentials-rotation"]);
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains("operator: Create a new smtp credential"),
        "{output}"
    );
    assert!(
        output.contains("rollback  operator: Delete the smtp credential you created"),
        "{output}"
    );
    let skipped = output
        .lines()
        .find(|l| l.contains("email-credentials-rotation/write-resend"))
        .unwrap();
    assert!(skipped.contains("skipped"), "{skipped}");
    assert!(!output.contains(&secret), "{output}");
    assert!(!output.contains("{{") && !output.contains("{%"), "{output}");
}
