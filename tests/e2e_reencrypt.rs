//! End to end on the demo deployment: the shipped `app-encryption-key-rotation` and
//! `mfa-encryption-key-rotation` runbooks drive the demo's re-encryption migration
//! (`demo-migrate`) over a scratch copy of its data — the data ends under the new key when the
//! run succeeds, and under the old one, with `.env.prod` byte for byte, when it fails.

mod common;
#[path = "demo_service/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine;
use runbook::envfile::EnvFile;
use serde_json::Value;
use support::{Deployment, get, get_json};

const APP_DATA: &str = "data.jsonl";
const MFA_DATA: &str = "mfa-data.jsonl";

/// The `demo-migrate` example binary, rebuilt when stale.
fn migrate_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| support::example_binary("demo-migrate"))
}

/// A demo deployment with both data templates copied in and the shipped runbooks' migration
/// commands pointed at `demo-migrate` (keys reach it through the runbooks' env, never argv).
fn deployment() -> Deployment {
    let demo = Deployment::new();
    let templates = common::repo().join("examples/demo");
    for (template, copy) in [("data.template", APP_DATA), ("mfa-data.template", MFA_DATA)] {
        std::fs::copy(templates.join(template), demo.dir.path().join(copy)).unwrap();
    }
    let bin = migrate_binary().display();
    let config = format!(
        "runbooks: {runbooks}\nvars:\n  env_file: .env.prod\n  api_url: http://127.0.0.1:{port}\n\
         \x20 reencrypt_env_probe_command: printenv RUNBOOK_ENV_PROBE\n\
         \x20 reencrypt_command: \"'{bin}' --data {APP_DATA}\"\n\
         \x20 reencrypt_dry_run_command: \"'{bin}' --data {APP_DATA} --dry-run\"\n\
         \x20 mfa_reencrypt_command: \"'{bin}' --mfa --data {MFA_DATA}\"\n\
         \x20 mfa_reencrypt_dry_run_command: \"'{bin}' --mfa --data {MFA_DATA} --dry-run\"\n\
         restart:\n  run: bash ./restart.sh {{{{ services | join(\" \") }}}}\n",
        runbooks = common::repo().join("runbooks").display(),
        port = demo.port,
    );
    std::fs::write(demo.dir.path().join("runbook.yaml"), config).unwrap();
    demo.restart_ok(&["api"]);
    demo
}

/// `demo-migrate --verify` of `data` under `key`: its exit code and its JSON report.
fn verify(data: &Path, key: &str, mfa: bool) -> (i32, Value) {
    let name = if mfa {
        "MFA_ENCRYPTION_KEY"
    } else {
        "APP_ENCRYPTION_KEY"
    };
    let out = Command::new(migrate_binary())
        .args(mfa.then_some("--mfa"))
        .arg("--data")
        .arg(data)
        .arg("--verify")
        .env(name, key)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    (out.status.code().unwrap_or(-1), report)
}

fn error_ids(report: &Value) -> Vec<&str> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap_or("?"))
        .collect()
}

fn template_env() -> EnvFile {
    let path = common::repo().join("examples/demo/.env.prod.template");
    EnvFile::parse(&std::fs::read(path).unwrap()).unwrap()
}

#[track_caller]
fn assert_no_key_in(output: &str, keys: &[&str]) {
    let b64 = base64::engine::general_purpose::STANDARD;
    for key in keys {
        for form in [key.to_string(), b64.encode(key), hex::encode(key)] {
            assert!(!output.contains(&form), "a key leaked into the output");
        }
    }
}

#[test]
fn data_templates_open_under_the_env_template_keys_and_under_no_other_key() {
    let env = template_env();
    let demo = common::repo().join("examples/demo");
    for (template, name, mfa) in [
        ("data.template", "APP_ENCRYPTION_KEY", false),
        ("mfa-data.template", "MFA_ENCRYPTION_KEY", true),
    ] {
        let key = env.get(name).unwrap();
        let (code, report) = verify(&demo.join(template), &key, mfa);
        assert_eq!(code, 0, "{template} must open under {name}: {report}");
        assert!(report["scanned"].as_u64().unwrap() > 0, "{report}");
        // The wrong key is detected by the tag on every record, never decrypted to garbage.
        let wrong = "ab".repeat(32);
        let (code, report) = verify(&demo.join(template), &wrong, mfa);
        assert_eq!(code, 1, "{report}");
        assert_eq!(report["verified"], 0, "{report}");
        assert_eq!(
            report["errors"].as_array().unwrap().len() as u64,
            report["scanned"]
        );
    }
}

#[test]
fn app_encryption_rotation_reencrypts_every_record_under_the_new_key() {
    let demo = deployment();
    let old = demo.env().get("APP_ENCRYPTION_KEY").unwrap();
    let (_, fingerprints_before) = get_json(demo.port, "/fingerprints", None);
    let data = demo.dir.path().join(APP_DATA);
    assert_eq!(
        verify(&data, &old, false).0,
        0,
        "the copy starts under the old key"
    );

    let (code, output) = demo.runbook(&["run", "app-encryption-key-rotation", "--yes"]);
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains("✓ app-encryption-key-rotation/all-under-new-key (exec)"),
        "the run ends with the last dry run:\n{output}"
    );

    let new = demo.env().get("APP_ENCRYPTION_KEY").unwrap();
    assert_ne!(new, old, "APP_ENCRYPTION_KEY changed in .env.prod");
    let (code, report) = verify(&data, &new, false);
    assert_eq!(code, 0, "every record opens under the new key: {report}");
    let (code, report) = verify(&data, &old, false);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["verified"], 0, "no record opens under the old key");
    assert_eq!(
        get(demo.port, "/health", None).0,
        200,
        "the service is healthy"
    );
    let (_, fingerprints_after) = get_json(demo.port, "/fingerprints", None);
    assert_ne!(
        fingerprints_before["APP_ENCRYPTION_KEY"], fingerprints_after["APP_ENCRYPTION_KEY"],
        "the restarted service runs with the new key"
    );
    assert_no_key_in(&output, &[&old, &new]);
}

#[test]
fn app_encryption_rotation_with_a_corrupted_record_fails_and_changes_nothing() {
    let demo = deployment();
    let data = demo.dir.path().join(APP_DATA);
    let corrupted = "user-0003/integration-credential";
    let text = std::fs::read_to_string(&data).unwrap();
    let text: String = text
        .lines()
        .map(|line| {
            let mut record: Value = match serde_json::from_str(line) {
                Ok(record) if line.contains(corrupted) => record,
                _ => return format!("{line}\n"),
            };
            // One flipped bit in the ciphertext: the tag no longer matches under any key.
            let ciphertext = record["ciphertext"].as_str().unwrap();
            let mut bytes = hex::decode(ciphertext).unwrap();
            bytes[0] ^= 1;
            record["ciphertext"] = hex::encode(bytes).into();
            format!("{record}\n")
        })
        .collect();
    std::fs::write(&data, &text).unwrap();
    let env_before = std::fs::read(demo.env_file()).unwrap();
    let old = demo.env().get("APP_ENCRYPTION_KEY").unwrap();

    // `migrate` retries twice before the run gives up; the shipped 20 s pause is shortened.
    let (code, output) = demo.runbook(&[
        "run",
        "app-encryption-key-rotation",
        "--yes",
        "--var",
        "migrate_retry_interval=50ms",
    ]);
    assert_eq!(code, 1, "a failed step, everything rolled back:\n{output}");
    assert!(
        output.contains(corrupted),
        "the error names the record:\n{output}"
    );
    assert_eq!(
        std::fs::read(demo.env_file()).unwrap(),
        env_before,
        ".env.prod is byte-identical"
    );
    assert_eq!(
        std::fs::read_to_string(&data).unwrap(),
        text,
        "a migration with an error never writes the data"
    );
    let (_, report) = verify(&data, &old, false);
    assert_eq!(
        error_ids(&report),
        [corrupted],
        "the rest is under the old key"
    );
    assert_eq!(get(demo.port, "/health", None).0, 200);
    assert_no_key_in(&output, &[&old]);
}

#[test]
fn app_encryption_rotation_failing_after_the_migration_reencrypts_back_to_the_old_key() {
    let demo = deployment();
    let data = demo.dir.path().join(APP_DATA);
    let env_before = std::fs::read(demo.env_file()).unwrap();
    let old = demo.env().get("APP_ENCRYPTION_KEY").unwrap();
    let (_, fingerprints_before) = get_json(demo.port, "/fingerprints", None);
    // The health check asks a port nothing listens on: the run fails after the migration, the
    // env edit and the restart, so `migrate`'s rollback must re-encrypt every record back.
    let (code, output) = demo.runbook(&[
        "run",
        "app-encryption-key-rotation",
        "--yes",
        "--var",
        "api_url=http://127.0.0.1:1",
        "--var",
        "health_interval=50ms",
    ]);
    assert_eq!(code, 1, "a failed step, everything rolled back:\n{output}");
    assert_eq!(
        std::fs::read(demo.env_file()).unwrap(),
        env_before,
        ".env.prod is byte-identical"
    );
    let (code, report) = verify(&data, &old, false);
    assert_eq!(code, 0, "every record is back under the old key: {report}");
    assert_eq!(
        get(demo.port, "/health", None).0,
        200,
        "the service is healthy"
    );
    assert_eq!(
        get_json(demo.port, "/fingerprints", None).1,
        fingerprints_before,
        "the service runs with the old key again"
    );
    assert_no_key_in(&output, &[&old]);
}

#[test]
fn mfa_encryption_rotation_reencrypts_the_mfa_secrets_under_the_new_key() {
    let demo = deployment();
    let old = demo.env().get("MFA_ENCRYPTION_KEY").unwrap();
    let data = demo.dir.path().join(MFA_DATA);
    let (code, output) = demo.runbook(&["run", "mfa-encryption-key-rotation", "--yes"]);
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains("✓ mfa-encryption-key-rotation/all-under-new-key (exec)"),
        "{output}"
    );
    let new = demo.env().get("MFA_ENCRYPTION_KEY").unwrap();
    assert_ne!(new, old, "MFA_ENCRYPTION_KEY changed in .env.prod");
    assert!(new.len() == 64 && new.bytes().all(|b| b.is_ascii_hexdigit()));
    let (code, report) = verify(&data, &new, true);
    assert_eq!(
        code, 0,
        "every MFA secret opens under the new key: {report}"
    );
    assert_eq!(
        verify(&data, &old, true).1["verified"],
        0,
        "none under the old"
    );
    let app_data = std::fs::read(demo.dir.path().join(APP_DATA)).unwrap();
    let app_template = std::fs::read(common::repo().join("examples/demo/data.template")).unwrap();
    assert_eq!(
        app_data, app_template,
        "the app data is not the MFA migration's"
    );
    assert_eq!(
        get(demo.port, "/health", None).0,
        200,
        "the service is healthy"
    );
    assert_no_key_in(&output, &[&old, &new]);
}

/// A Compose that drops `-e NAME`'s host value would run the migration without its keys: the
/// probe (here one whose container sees nothing) stops the run before the migration.
#[test]
fn app_encryption_rotation_stops_before_migrating_when_the_container_gets_no_env() {
    let demo = deployment();
    let data = demo.dir.path().join(APP_DATA);
    let data_before = std::fs::read(&data).unwrap();
    let env_before = std::fs::read(demo.env_file()).unwrap();
    let (code, output) = demo.runbook(&[
        "run",
        "app-encryption-key-rotation",
        "--yes",
        "--var",
        "reencrypt_env_probe_command=true",
    ]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("did not receive RUNBOOK_ENV_PROBE"),
        "{output}"
    );
    assert!(
        !output.contains("app-encryption-key-rotation/migrate (exec)"),
        "{output}"
    );
    assert_eq!(std::fs::read(&data).unwrap(), data_before);
    assert_eq!(std::fs::read(demo.env_file()).unwrap(), env_before);
}
