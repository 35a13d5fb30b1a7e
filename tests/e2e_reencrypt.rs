//! End to end on the demo deployment: the shipped `app-encryption-key-rotation` and
//! `mfa-encryption-key-rotation` runbooks drive the demo's re-encryption migration
//! (`demo-migrate`) over a scratch copy of its data — the data ends under the new key when the
//! activate phase succeeds (the old key still decrypting until `retire`), and under the old
//! one, with `.env.prod` byte for byte, when it fails. An incident keeps nothing to retire.
//! (`tests/e2e_keyring.rs` proves the same rotations cost the service's users nothing.)

mod common;
#[path = "demo_service/support.rs"]
mod support;

use base64::Engine;
use runbook::envfile::EnvFile;
use serde_json::Value;
use support::{APP_DATA, Deployment, MFA_DATA, get, get_json, verify_records as verify};

/// A demo deployment, its data copies under the template's keys, the shipped runbooks'
/// migration commands pointed at `demo-migrate`, its service running.
fn deployment() -> Deployment {
    let demo = Deployment::new();
    demo.configure(&support::reencrypt_vars());
    demo.restart_ok(&["api"]);
    demo
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

/// Each of `steps` (`ID (KIND)`) of the app-encryption runbook is done in `output`.
#[track_caller]
fn assert_done(output: &str, steps: &[&str]) {
    for step in steps {
        let done = format!("✓ app-encryption-key-rotation/{step}");
        assert!(output.contains(&done), "{done}:\n{output}");
    }
}

/// `/records/KIND` of the demo service: every record opened (200), and how many of them only
/// under the previous key.
fn records(demo: &Deployment, kind: &str) -> (u16, Value) {
    get_json(demo.port, &format!("/records/{kind}"), None)
}

#[test]
fn app_encryption_rotation_reencrypts_every_record_under_the_new_key_then_retires_the_old() {
    let demo = deployment();
    let old = demo.env().get("APP_ENCRYPTION_KEY").unwrap();
    let (_, fingerprints_before) = get_json(demo.port, "/fingerprints", None);
    let data = demo.dir.path().join(APP_DATA.1);
    assert_eq!(
        verify(&data, &old, false).0,
        0,
        "the copy starts under the old key"
    );
    let (status, before) = records(&demo, "app");
    assert_eq!(status, 200, "{before}");

    let (code, output) = demo.runbook(&["run", "app-encryption-key-rotation", "--yes"]);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("waiting for retire"), "{output}");
    assert!(
        output.contains("✓ app-encryption-key-rotation/all-under-new-key (exec)"),
        "the activate phase proves every record under the new key:\n{output}"
    );
    let env = demo.env();
    let new = env.get("APP_ENCRYPTION_KEY").unwrap();
    assert_ne!(new, old, "APP_ENCRYPTION_KEY changed in .env.prod");
    assert_eq!(
        env.get("APP_ENCRYPTION_KEY_PREVIOUS").as_deref(),
        Some(old.as_str()),
        "the old key still decrypts during the overlap"
    );
    let (code, report) = verify(&data, &new, false);
    assert_eq!(code, 0, "every record opens under the new key: {report}");
    let (code, report) = verify(&data, &old, false);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["verified"], 0, "no record opens under the old key");
    let (status, during) = records(&demo, "app");
    assert_eq!(status, 200, "{during}");
    assert_eq!(during["digest"], before["digest"], "the same plaintexts");
    assert_eq!(during["opened_with_previous"], 0, "{during}");
    let (_, fingerprints_after) = get_json(demo.port, "/fingerprints", None);
    assert_ne!(
        fingerprints_before["APP_ENCRYPTION_KEY"], fingerprints_after["APP_ENCRYPTION_KEY"],
        "the restarted service runs with the new key"
    );

    let (code, retired) = demo.runbook(&["retire", "app-encryption", "--now", "--yes"]);
    assert_eq!(code, 0, "{retired}");
    assert_done(
        &retired,
        &[
            "old-key-opens-nothing (exec)",
            "records-still-readable (verify)",
        ],
    );
    let env = demo.env();
    assert_eq!(env.get("APP_ENCRYPTION_KEY_PREVIOUS"), None, "retired");
    assert_eq!(env.get("APP_ENCRYPTION_KEY").unwrap(), new);
    let (status, after) = records(&demo, "app");
    assert_eq!(
        status, 200,
        "the service reads every record with the new key alone"
    );
    assert_eq!(after["digest"], before["digest"]);
    let (_, fingerprints) = get_json(demo.port, "/fingerprints", None);
    assert!(fingerprints.get("APP_ENCRYPTION_KEY_PREVIOUS").is_none());
    assert_no_key_in(&format!("{output}{retired}"), &[&old, &new]);
}

/// `compromise` never overlaps: the leaked key decrypts until the migration has run, and is
/// gone from `.env.prod` and the service before the run ends.
#[test]
fn a_compromised_app_encryption_key_is_removed_in_the_same_run() {
    let demo = deployment();
    let old = demo.env().get("APP_ENCRYPTION_KEY").unwrap();
    let data = demo.dir.path().join(APP_DATA.1);
    let (code, output) =
        demo.runbook(&["run", "compromise", "--secret", "app-encryption", "--yes"]);
    // Unattended, the run stops at the operator's "notify the users", after the rotation.
    assert_eq!(code, 3, "{output}");
    assert_done(
        &output,
        &[
            "drop-previous-incident (env)",
            "old-key-opens-nothing-incident (exec)",
            "records-readable-incident (verify)",
        ],
    );
    let env = demo.env();
    assert_eq!(env.get("APP_ENCRYPTION_KEY_PREVIOUS"), None, "nothing kept");
    let new = env.get("APP_ENCRYPTION_KEY").unwrap();
    assert_ne!(new, old);
    assert_eq!(verify(&data, &new, false).0, 0);
    assert_eq!(verify(&data, &old, false).1["verified"], 0);
    let (_, fingerprints) = get_json(demo.port, "/fingerprints", None);
    assert!(fingerprints.get("APP_ENCRYPTION_KEY_PREVIOUS").is_none());
    assert_eq!(records(&demo, "app").0, 200);
    assert_no_key_in(&output, &[&old, &new]);
}

#[test]
fn app_encryption_rotation_with_a_corrupted_record_fails_and_changes_nothing() {
    let demo = deployment();
    let data = demo.dir.path().join(APP_DATA.1);
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
    let data = demo.dir.path().join(APP_DATA.1);
    let env_before = std::fs::read(demo.env_file()).unwrap();
    let old = demo.env().get("APP_ENCRYPTION_KEY").unwrap();
    let (_, fingerprints_before) = get_json(demo.port, "/fingerprints", None);
    // The last check reads the records at an endpoint the service does not have: the run
    // fails after the env edit, the restart, the migration and its dry run, so `migrate`'s
    // rollback must re-encrypt every record back before the old key alone returns.
    let (code, output) = demo.runbook(&[
        "run",
        "app-encryption-key-rotation",
        "--yes",
        "--var",
        "app_records_verify_path=/records/none",
    ]);
    assert_eq!(code, 1, "a failed step, everything rolled back:\n{output}");
    assert!(
        output.contains("✓ app-encryption-key-rotation/all-under-new-key (exec)"),
        "the migration had run:\n{output}"
    );
    assert_eq!(
        std::fs::read(demo.env_file()).unwrap(),
        env_before,
        ".env.prod is byte-identical"
    );
    let (code, report) = verify(&data, &old, false);
    assert_eq!(code, 0, "every record is back under the old key: {report}");
    assert_eq!(
        get_json(demo.port, "/fingerprints", None).1,
        fingerprints_before,
        "the service runs with the old key alone again"
    );
    let (status, read) = records(&demo, "app");
    assert_eq!(status, 200, "and reads every record with it: {read}");
    assert_no_key_in(&output, &[&old]);
}

#[test]
fn mfa_encryption_rotation_reencrypts_the_mfa_secrets_under_the_new_key_then_retires_the_old() {
    let demo = deployment();
    let old = demo.env().get("MFA_ENCRYPTION_KEY").unwrap();
    let data = demo.dir.path().join(MFA_DATA.1);
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
    let app_data = std::fs::read(demo.dir.path().join(APP_DATA.1)).unwrap();
    let app_template = std::fs::read(common::repo().join("examples/demo/data.template")).unwrap();
    assert_eq!(
        app_data, app_template,
        "the app data is not the MFA migration's"
    );
    assert_eq!(records(&demo, "mfa").0, 200, "the service reads them");

    let (code, retired) = demo.runbook(&["retire", "mfa-encryption", "--now", "--yes"]);
    assert_eq!(code, 0, "{retired}");
    assert!(
        retired.contains("✓ mfa-encryption-key-rotation/old-key-opens-nothing (exec)"),
        "{retired}"
    );
    assert_eq!(demo.env().get("MFA_ENCRYPTION_KEY_PREVIOUS"), None);
    assert_eq!(records(&demo, "mfa").0, 200, "with the new key alone");
    assert_no_key_in(&format!("{output}{retired}"), &[&old, &new]);
}

/// A Compose that drops `-e NAME`'s host value would run the migration without its keys: the
/// probe (here one whose container sees nothing) stops the run before the migration.
#[test]
fn app_encryption_rotation_stops_before_migrating_when_the_container_gets_no_env() {
    let demo = deployment();
    let data = demo.dir.path().join(APP_DATA.1);
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
