//! The encryption keys' keyring, proven on the real demo service and under load: the service
//! opens a record with `*_ENCRYPTION_KEY` or `*_ENCRYPTION_KEY_PREVIOUS`, so the real `runbook`
//! rotates APP_ENCRYPTION_KEY and MFA_ENCRYPTION_KEY in two phases through the blue/green
//! restart driver while `demo-load` keeps requesting the service and reading its encrypted
//! records. The activate phase, re-encryption migration included, fails no request and
//! refuses no credential, every record opening to the same plaintexts throughout; the retire
//! fails no request; afterwards the old key opens nothing and the service reads every record
//! with the new key alone.

mod common;
#[path = "demo_service/load.rs"]
mod load;
#[path = "demo_service/support.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use load::{Load, Report};
use serde_json::Value;
use support::{APP_DATA, Deployment, MFA_DATA, Service, example_binary, get_json, verify_records};

/// Creates `data` with `count` records sealed under `key` (`variable` names it), through
/// `demo-migrate --init`, the key in its environment only.
fn sealed_data(data: &Path, variable: &str, key: &str) {
    let out = Command::new(example_binary("demo-migrate"))
        .args(["--init", "5", "--data"])
        .arg(data)
        .args((variable == MFA_DATA.2).then_some("--mfa"))
        .env(variable, key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `/records/app` of a service started directly on `env` (plus the data file's line).
fn records_with(dir: &Path, env: &str) -> (u16, Value) {
    let data = dir.join("data.jsonl");
    let env = format!(
        "JWT_SECRET=j\nSESSION_SECRET=s\nDEMO_DATA_FILE={}\n{env}",
        data.display()
    );
    let service = Service::start(dir, &env, None).expect("the service starts");
    get_json(service.port, "/records/app", None)
}

#[test]
fn the_service_opens_records_under_the_current_or_the_previous_key_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = ("0ld-app-key", "n3w-app-key");
    sealed_data(&dir.path().join("data.jsonl"), APP_DATA.2, old);

    let (status, body) = records_with(dir.path(), &format!("APP_ENCRYPTION_KEY={old}\n"));
    assert_eq!(
        (status, &body["opened_with_previous"]),
        (200, &0.into()),
        "{body}"
    );
    let digest = body["digest"].clone();

    // Mid-rotation: the new key encrypts, the old one still decrypts what is under it.
    let both = format!("APP_ENCRYPTION_KEY={new}\nAPP_ENCRYPTION_KEY_PREVIOUS={old}\n");
    let (status, body) = records_with(dir.path(), &both);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["opened_with_previous"], 5, "{body}");
    assert_eq!(body["digest"], digest, "to the same plaintexts");

    // Without the old key, its records are an outage for their users (500), and the answer
    // names which records, never a key or a plaintext.
    let (status, body) = records_with(dir.path(), &format!("APP_ENCRYPTION_KEY={new}\n"));
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["unreadable"].as_array().unwrap().len(), 5, "{body}");
    let text = body.to_string();
    assert!(!text.contains(old) && !text.contains(new), "{text}");
}

/// Runs `runbook ARGS` while `demo-load` requests the service, `--records KIND` among its
/// checks, and returns the runbook's output and what the load saw.
fn rotate_under_load(demo: &Deployment, args: &[&str], kind: &str) -> (String, Report) {
    let load = Load::start(
        demo.dir.path(),
        demo.port,
        &demo.env_file(),
        &["--records", kind],
    );
    let (code, output) = demo.runbook(args);
    let report = load.finish();
    assert_eq!(code, 0, "{args:?}: {output}\nlog:\n{}", demo.log());
    eprintln!("{args:?}: {report}");
    (output, report)
}

/// The two phases of `runbook` (the runbook's name) rotating `secret`, whose key `variable`
/// seals the data copy `data`, each under a load reading those records (`kind`).
fn rotates_in_two_phases_at_no_cost(
    runbook: &str,
    secret: &str,
    kind: &str,
    data: (&str, &str, &str),
) {
    let (_, copy, variable) = data;
    let mfa = variable == MFA_DATA.2;
    let demo = Deployment::new();
    demo.restart_mode("bluegreen");
    demo.configure(&support::reencrypt_vars());
    demo.restart_ok(&["api"]);
    let old = demo.env().get(variable).unwrap();
    let records = format!("records_{kind}");

    let (output, activated) = rotate_under_load(&demo, &["run", runbook, "--yes"], kind);
    assert!(output.contains("waiting for retire"), "{output}");
    assert!(
        output.contains(&format!("✓ {runbook}/migrate (exec)")),
        "{output}"
    );
    for check in ["health", "token_before", "token_during", &records] {
        assert!(activated.check(check, "ok") > 0, "{check} ran: {activated}");
    }
    assert_eq!(
        activated.total("failed"),
        0,
        "{activated}\nlog:\n{}",
        demo.log()
    );
    assert_eq!(activated.total("rejected"), 0, "{activated}");
    assert_eq!(
        activated.0["instances"], 2,
        "the load spanned the restart: {activated}"
    );
    let new = demo.env().get(variable).unwrap();
    let data = demo.dir.path().join(copy);
    assert_eq!(
        verify_records(&data, &new, mfa).0,
        0,
        "all under the new key"
    );

    let (_, retired) = rotate_under_load(&demo, &["retire", secret, "--now", "--yes"], kind);
    assert!(retired.check(&records, "ok") > 0, "{retired}");
    assert_eq!(
        retired.total("failed"),
        0,
        "{retired}\nlog:\n{}",
        demo.log()
    );
    assert_eq!(retired.total("rejected"), 0, "{retired}");
    assert_eq!(demo.env().get(&format!("{variable}_PREVIOUS")), None);
    let (code, report) = verify_records(&data, &old, mfa);
    assert_eq!(
        (code, &report["verified"]),
        (1, &0.into()),
        "the old key opens nothing: {report}"
    );
    let (status, body) = get_json(demo.port, &format!("/records/{kind}"), None);
    assert_eq!(
        status, 200,
        "the service reads every record with the new key alone: {body}"
    );
    let log = demo.log();
    assert_eq!(log.matches("socket taken over").count(), 2, "{log}");
}

#[test]
fn app_encryption_rotation_in_two_phases_with_blue_green_restarts_serves_every_record_under_load() {
    rotates_in_two_phases_at_no_cost(
        "app-encryption-key-rotation",
        "app-encryption",
        "app",
        APP_DATA,
    );
}

#[test]
fn mfa_encryption_rotation_in_two_phases_with_blue_green_restarts_serves_every_record_under_load() {
    rotates_in_two_phases_at_no_cost(
        "mfa-encryption-key-rotation",
        "mfa-encryption",
        "mfa",
        MFA_DATA,
    );
}
