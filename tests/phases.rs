//! Rotations in two phases: the activate phase ends waiting for retire (durable, not
//! unfinished, no lock), `retire` runs the rest when due or with `--now`, a failed retire goes
//! back to waiting, and a new rotation waits for the pending retire. Through the real binary.

mod common;

use common::Test;

const OLD: &str = "0ld-phase-secret-value";
const ENV: &str = "# deployment\nREF=0ld-phase-secret-value\nOTHER=1\n";

/// A keyring rotation: the new value in use with the old one kept as `REF_PREVIOUS`, which the
/// retire phase removes. `retire_check` is the retire phase's last verify.
fn runbook(retire_check: &str) -> String {
    format!(
        r#"name: ref-rotation
secret: {{ id: ref, env: [REF, REF_PREVIOUS], every: 90d, impact: none, overlap: 7d }}
steps:
  - id: new
    generate: {{ bytes: 24, encoding: hex }}
  - id: write
    needs: [new]
    env: {{ set: {{ REF: "{{{{ steps.new.value }}}}", REF_PREVIOUS: "{{{{ secret.current }}}}" }}, append: true }}
  - id: both-verify
    needs: [write]
    verify: {{ exec: {{ run: "grep -q '^REF_PREVIOUS=' .env.prod" }} }}
  - id: drop-previous
    phase: retire
    env: {{ unset: [REF_PREVIOUS] }}
  - id: retired
    phase: retire
    needs: [drop-previous]
    verify: {{ exec: {{ run: "{retire_check}" }} }}
"#
    )
}

fn project(retire_check: &str) -> Test {
    Test::new()
        .file("runbooks/ref.yaml", &runbook(retire_check))
        .file(".env.prod", ENV)
}

fn text(test: &Test, name: &str) -> String {
    String::from_utf8(test.read(name)).unwrap()
}

fn rotations(test: &Test) -> serde_json::Value {
    serde_json::from_slice(&test.read(".runbook/rotations.json")).unwrap()
}

fn run_id(test: &Test) -> String {
    rotations(test)["ref"]["waiting_for_retire"]["run_id"]
        .as_str()
        .expect("a retire is pending")
        .to_string()
}

/// Moves the pending retire's due date into the past, as the clock would after the overlap.
fn make_due(test: &Test) {
    let mut all = rotations(test);
    all["ref"]["waiting_for_retire"]["retire_due"] = "2000-01-01T00:00:00Z".into();
    test.write(
        ".runbook/rotations.json",
        serde_json::to_string(&all).unwrap().as_bytes(),
    );
}

#[test]
fn activate_phase_ends_waiting_for_retire_without_lock_backups_or_old_value() {
    let test = project("! grep -q REF_PREVIOUS .env.prod");
    let run = test.run_args(&["run", "ref-rotation", "--yes"]);
    run.expect_code(0);
    assert!(run.stdout.contains("waiting for retire"), "{}", run.stdout);
    let env = text(&test, ".env.prod");
    assert!(env.contains(&format!("REF_PREVIOUS={OLD}\n")), "{env}");
    assert!(!env.contains(&format!("REF={OLD}\n")), "{env}");
    let id = run_id(&test);
    assert!(
        !test.path().join(".runbook/active").exists(),
        "a run waiting for retire is not unfinished"
    );
    let run_dir = test.path().join(".runbook/runs").join(&id);
    assert!(
        !run_dir.join("backup").exists(),
        "backups hold the old value"
    );
    assert_eq!(
        test.run_is_live(&id),
        Some(false),
        "the waiting run's folder no longer says it is live"
    );
    assert!(
        beside_backups(&test).is_empty(),
        "nor is one left beside the env file"
    );
    let pending: Vec<String> = std::fs::read_dir(run_dir.join("pending"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(pending, ["start.json"], "nothing the retire does not read");
    let journal = text(&test, &format!(".runbook/runs/{id}/journal.jsonl"));
    assert!(journal.contains(r#""record":"waiting""#), "{journal}");
    assert!(!journal.contains(OLD));
    // No lock is held: an unrelated runbook runs meanwhile.
    test.write(
        "runbooks/other.yaml",
        b"name: other\nsteps:\n  - id: hello\n    exec: { run: 'true' }\n",
    );
    test.run_args(&["run", "other", "--yes"]).expect_code(0);
    let status = test.run_args(&["status"]);
    assert!(
        status.stdout.contains("waiting for retire (due "),
        "{}",
        status.stdout
    );
    let list = test.run_args(&["list"]);
    assert!(
        list.stdout.contains("waiting for retire (due "),
        "{}",
        list.stdout
    );
    let listed: serde_json::Value =
        serde_json::from_str(&test.run_args(&["list", "--format", "json"]).stdout).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["secret"] == "ref")
        .unwrap();
    assert!(row["waiting_for_retire"].is_string() && row["retire_due"].is_string());
    let history = test.run_args(&["history"]);
    assert!(
        history.stdout.contains("waiting_for_retire activate"),
        "{}",
        history.stdout
    );
    assert!(
        !history.stdout.contains("rotated"),
        "never `rotated` before retire"
    );
}

#[test]
fn a_new_rotation_is_refused_while_a_retire_is_pending() {
    let test = project("true");
    test.run_args(&["run", "ref-rotation", "--yes"])
        .expect_code(0);
    let before = text(&test, ".env.prod");
    let again = test.run_args(&["run", "ref-rotation", "--yes"]);
    again.expect_code(4);
    assert!(
        again.stderr.contains("waiting for retire") && again.stderr.contains("runbook retire ref"),
        "{}",
        again.stderr
    );
    assert_eq!(text(&test, ".env.prod"), before, "nothing was done");
}

#[test]
fn retire_waits_for_the_due_date_unless_now() {
    let test = project("! grep -q REF_PREVIOUS .env.prod");
    test.run_args(&["run", "ref-rotation", "--yes"])
        .expect_code(0);
    let before = text(&test, ".env.prod");
    let early = test.run_args(&["retire", "ref", "--yes"]);
    early.expect_code(2);
    assert!(
        early.stderr.contains("runbook::retire::not_due"),
        "{}",
        early.stderr
    );
    assert!(early.stderr.contains("--now"), "{}", early.stderr);
    assert_eq!(text(&test, ".env.prod"), before);
    let none = test.run_args(&["retire", "other", "--yes"]);
    none.expect_code(2);
    // The env name finds the secret too, and `--now` retires early.
    let retired = test.run_args(&["retire", "REF_PREVIOUS", "--now", "--yes"]);
    retired.expect_code(0);
    assert!(
        retired.stdout.contains("retire phase"),
        "{}",
        retired.stdout
    );
    let env = text(&test, ".env.prod");
    assert!(!env.contains("REF_PREVIOUS") && !env.contains(OLD), "{env}");
    let rotation = &rotations(&test)["ref"];
    assert!(rotation["last_rotated"].is_string(), "{rotation}");
    assert!(rotation.get("waiting_for_retire").is_none(), "{rotation}");
    let history = test.run_args(&["history"]).stdout;
    assert!(history.contains("waiting_for_retire activate"), "{history}");
    assert!(history.contains("rotated            retire"), "{history}");
    test.run_args(&["retire", "ref", "--now", "--yes"])
        .expect_code(2);
    // Rotating again is allowed once retired.
    test.run_args(&["run", "ref-rotation", "--yes"])
        .expect_code(0);
}

#[test]
fn retire_runs_when_due_and_status_flags_an_overdue_retire() {
    let test = project("! grep -q REF_PREVIOUS .env.prod");
    test.run_args(&["run", "ref-rotation", "--yes"])
        .expect_code(0);
    test.run_args(&["status", "--check"]).expect_code(0);
    make_due(&test);
    let check = test.run_args(&["status", "--check"]);
    check.expect_code(1);
    assert!(check.stdout.contains("RETIRE OVERDUE"), "{}", check.stdout);
    let metrics = test.run_args(&["status", "--format", "prometheus"]).stdout;
    assert!(
        metrics.contains("runbook_secret_retire_overdue{secret=\"ref\"} 1")
            && metrics
                .contains("runbook_secret_retire_due_timestamp_seconds{secret=\"ref\"} 946684800"),
        "{metrics}"
    );
    let list = test.run_args(&["list"]).stdout;
    assert!(
        list.contains("waiting for retire (due 2000-01-01, overdue)"),
        "{list}"
    );
    test.run_args(&["retire", "ref", "--yes"]).expect_code(0);
    test.run_args(&["status", "--check"]).expect_code(0);
}

#[test]
fn a_failed_retire_is_rolled_back_and_waits_for_retire_again() {
    let test = project("false");
    test.run_args(&["run", "ref-rotation", "--yes"])
        .expect_code(0);
    let activated = text(&test, ".env.prod");
    let id = run_id(&test);
    let failed = test.run_args(&["retire", "ref", "--now", "--yes"]);
    failed.expect_code(1);
    assert!(
        failed.stdout.contains("waiting for retire again"),
        "{}",
        failed.stdout
    );
    assert_eq!(
        text(&test, ".env.prod"),
        activated,
        "the retire's edit is undone"
    );
    assert_eq!(run_id(&test), id);
    assert!(!test.path().join(".runbook/active").exists());
    let history = test.run_args(&["history"]).stdout;
    assert!(history.contains("rolled_back        retire"), "{history}");
    // Fixed, the same run retires.
    test.write("runbooks/ref.yaml", runbook("true").as_bytes());
    test.run_args(&["retire", "ref", "--now", "--yes"])
        .expect_code(0);
    assert!(!text(&test, ".env.prod").contains("REF_PREVIOUS"));
}

#[test]
fn a_failed_activate_phase_restores_the_old_value_as_the_only_one() {
    let test = Test::new()
        .file(
            "runbooks/ref.yaml",
            &runbook("true").replace("grep -q '^REF_PREVIOUS=' .env.prod", "false"),
        )
        .file(".env.prod", ENV);
    test.run_args(&["run", "ref-rotation", "--yes"])
        .expect_code(1);
    assert_eq!(
        text(&test, ".env.prod"),
        ENV,
        "byte for byte, no previous value"
    );
    assert!(!test.path().join(".runbook/rotations.json").exists());
    test.run_args(&["retire", "ref", "--now", "--yes"])
        .expect_code(2);
}

#[test]
fn resume_and_abort_refuse_a_run_waiting_for_retire() {
    let test = project("true");
    test.run_args(&["run", "ref-rotation", "--yes"])
        .expect_code(0);
    let id = run_id(&test);
    for command in ["resume", "abort"] {
        let refused = test.run_args(&[command, &id, "--yes"]);
        refused.expect_code(2);
        assert!(
            refused.stderr.contains("runbook retire ref"),
            "{}",
            refused.stderr
        );
    }
}

#[test]
fn retire_steps_read_what_the_activate_phase_kept_and_it_is_deleted_after() {
    // The retire phase needs a value only the activate phase knew: its hash is kept, 0600,
    // fingerprinted in the audit log, and deleted once the retire phase ends.
    let test = Test::new()
        .file(
            "runbooks/ref.yaml",
            &runbook("true").replace(
                "  - id: drop-previous\n",
                "  - id: hash\n    needs: [write]\n    exec: { run: 'sha256sum | cut -c1-64', stdin: \"{{ secret.current }}\" }\n  - id: drop-previous\n",
            ).replace(
                "verify: { exec: { run: \"true\" } }",
                // The expected hash goes through the environment: once kept, the hash is a secret,
                // which no command line may hold.
                &format!("verify: {{ exec: {{ run: 'test \"$H\" = \"$E\"', env: {{ H: \"{{{{ steps.hash.stdout | trim }}}}\", E: {} }} }} }}", sha256_hex(OLD)),
            ),
        )
        .file(".env.prod", ENV);
    test.run_args(&["run", "ref-rotation", "--yes"])
        .expect_code(0);
    let id = run_id(&test);
    let pending = test.path().join(".runbook/runs").join(&id).join("pending");
    let kept: Vec<String> = std::fs::read_dir(&pending)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("out-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(pending.join(&kept[0]))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let audit = text(&test, ".runbook/audit.jsonl");
    assert!(
        audit.contains(&format!(r#""kept":[{{"file":"{}","fingerprint":"#, kept[0])),
        "{audit}"
    );
    test.run_args(&["retire", "ref", "--now", "--yes"])
        .expect_code(0);
    assert!(!pending.exists(), "kept files are deleted after retire");
}

#[test]
fn what_the_activate_phase_kept_stays_masked_when_retire_runs_on_its_own() {
    // The hash is masked in the activate run because the `sha256` filter made it; `retire`
    // is a new process that never renders that filter, yet prints nothing of the hash.
    let hash = sha256_hex(OLD);
    let test = Test::new()
        .file(
            "runbooks/ref.yaml",
            &runbook("true")
                .replace(
                    "  - id: drop-previous\n",
                    "  - id: hash\n    needs: [write]\n    exec: { run: cat, stdin: \"{{ secret.current | sha256 }}\" }\n  - id: drop-previous\n",
                )
                .replace(
                    "verify: { exec: { run: \"true\" } }",
                    "verify: { exec: { run: 'echo \"kept $H\" >&2', env: { H: \"{{ steps.hash.stdout }}\" } } }",
                ),
        )
        .file(".env.prod", ENV);
    let run = test.run_args(&["run", "ref-rotation", "--yes", "-vv"]);
    run.expect_code(0);
    assert!(!run.stdout.contains(&hash) && !run.stderr.contains(&hash));
    let retire = test.run_args(&["retire", "ref", "--now", "--yes", "-vv"]);
    retire.expect_code(0);
    let all = format!("{}{}", retire.stdout, retire.stderr);
    assert!(
        all.contains("kept "),
        "the retire step's line is shown: {all}"
    );
    assert!(!all.contains(&hash), "the kept hash leaked: {all}");
    let journal = std::fs::read_dir(test.path().join(".runbook/runs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path().join("journal.jsonl")).unwrap())
        .collect::<String>();
    assert!(!journal.contains(&hash), "the kept hash is in a journal");
}

fn sha256_hex(text: &str) -> String {
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "printf %s \"$1\" | sha256sum | cut -c1-64",
            "sh",
            text,
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn an_incident_run_retires_in_the_same_run() {
    let test = project("! grep -q REF_PREVIOUS .env.prod").file(
        "runbooks/incident.yaml",
        "name: incident\nmode: incident\nsteps:\n  - id: rotate\n    rotate: { secret: ref }\n",
    );
    let run = test.run_args(&["run", "incident", "--yes"]);
    run.expect_code(0);
    let env = text(&test, ".env.prod");
    assert!(!env.contains("REF_PREVIOUS") && !env.contains(OLD), "{env}");
    assert!(!test.path().join(".runbook/active").exists());
    let rotation = &rotations(&test)["ref"];
    assert!(rotation["last_rotated"].is_string() && rotation.get("waiting_for_retire").is_none());
    let plan = test.run_args(&["plan", "incident"]).stdout;
    assert!(plan.contains("incident mode never overlaps"), "{plan}");
}

#[test]
fn the_plan_shows_both_phases_and_when_the_retire_runs() {
    let test = project("true");
    let plan = test.run_args(&["plan", "ref-rotation"]);
    plan.expect_code(0);
    assert!(
        plan.stdout.contains("waiting for retire"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("runbook retire ref"),
        "{}",
        plan.stdout
    );
    assert_eq!(
        plan.stdout.matches("phase     retire").count(),
        2,
        "{}",
        plan.stdout
    );
    let json: serde_json::Value = serde_json::from_str(
        &test
            .run_args(&["plan", "ref-rotation", "--format", "json"])
            .stdout,
    )
    .unwrap();
    assert_eq!(json["retire"]["overlap"], "7d");
    assert_eq!(json["steps"][3]["phase"], "retire");
    assert_eq!(json["steps"][0]["phase"], "activate");
}

/// Backups linked beside `.env.prod` (`..env.prod.runbook-<run>-<step>.bak`).
fn beside_backups(test: &Test) -> Vec<String> {
    std::fs::read_dir(test.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("..env.prod.runbook-") && n.ends_with(".bak"))
        .collect()
}
