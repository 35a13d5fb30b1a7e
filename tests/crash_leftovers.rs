//! What a kill leaves behind besides the journal: a temporary copy of the env file cut off
//! before its rename (the whole file with the new secret in it), and a run killed before it
//! was marked active. Each is cleaned up by the next `resume`, `abort` or run, and said so.

mod common;

use common::Test;

const ENV: &str =
    "# reference deployment\nexport REF_SECRET=0ld-reference-secret-value\nOTHER=unchanged\n";

const RUNBOOK: &str = common::REF_ROTATION;

/// Another rotation sharing the env file: its value is masked by the run, never kept by it.
const OTHER_RUNBOOK: &str = r#"name: other-rotation
secret: { id: other, env: [OTHER], every: 90d, impact: none }
steps:
  - id: new
    generate: { bytes: 24, encoding: hex }
"#;
const OTHER_VALUE: &str = "other-secret-never-kept-4711";

fn project() -> Test {
    Test::new()
        .file("runbooks/ref.yaml", RUNBOOK)
        .file(".env.prod", ENV)
}

/// Every run folder in the state directory.
fn runs(test: &Test) -> Vec<String> {
    match std::fs::read_dir(test.path().join(".runbook/runs")) {
        Ok(entries) => entries
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Runs with the failpoint and checks the process was killed, not finished.
fn crash(test: &Test, failpoint: &str) {
    let output = test
        .command()
        .args(["run", "ref-rotation", "--yes"])
        .env("RUNBOOK_FAILPOINT", failpoint)
        .output()
        .expect("spawn");
    assert_eq!(output.status.code(), None, "{failpoint}: killed");
}

/// What a power cut changes besides what it loses: the kernel's boot id, which the record of
/// the last sweep was written in (`.runbook/swept` starts with it).
fn in_another_boot(test: &Test) {
    let path = test.path().join(".runbook/swept");
    let line = std::fs::read_to_string(&path).expect("the last sweep is recorded");
    let boot = line.split_whitespace().next().expect("a boot id");
    std::fs::write(
        &path,
        line.replacen(boot, "00000000-0000-4000-8000-000000000000", 1),
    )
    .expect("rewrite the sweep record");
}

fn active(test: &Test) -> String {
    String::from_utf8(test.read(".runbook/active"))
        .expect("utf-8")
        .trim()
        .to_string()
}

/// Every hidden temporary copy of `.env.prod` in the project directory.
fn temp_copies(test: &Test) -> Vec<String> {
    std::fs::read_dir(test.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("..env.prod.") && n.ends_with(".tmp"))
        .collect()
}

/// Every backup kept beside `.env.prod` (`..env.prod.runbook-<run>-<step>.bak`).
fn backups_beside(test: &Test) -> Vec<String> {
    std::fs::read_dir(test.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("..env.prod.runbook-") && n.ends_with(".bak"))
        .collect()
}

#[test]
fn a_temp_copy_cut_off_before_its_rename_is_removed_by_resume_and_by_abort() {
    for command in ["resume", "abort"] {
        let test = project();
        crash(&test, "mid-write:.env.prod");
        let strays = temp_copies(&test);
        assert_eq!(
            strays.len(),
            1,
            "{command}: the kill left a copy: {strays:?}"
        );
        assert_eq!(test.read(".env.prod"), ENV.as_bytes(), "not yet renamed");
        let run_id = active(&test);
        let out = test
            .command()
            .args([command, &run_id])
            .output()
            .expect("spawn");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            temp_copies(&test),
            Vec::<String>::new(),
            "{command}: removed"
        );
        let env = String::from_utf8(test.read(".env.prod")).expect("utf-8");
        if command == "abort" {
            assert_eq!(env, ENV);
        } else {
            assert!(!env.contains("0ld-reference") && env.ends_with("OTHER=unchanged\n"));
        }
    }
}

#[test]
fn a_run_keeps_only_the_current_values_it_reads_and_is_visible_once_they_are_on_disk() {
    let test = project().file("runbooks/other.yaml", OTHER_RUNBOOK).file(
        ".env.prod",
        &ENV.replace("OTHER=unchanged", &format!("OTHER={OTHER_VALUE}")),
    );
    crash(&test, "before-intent:ref-rotation/new");
    let run_id = active(&test);
    let start = String::from_utf8(test.read(&format!(".runbook/runs/{run_id}/pending/start.json")))
        .expect("utf-8");
    assert!(
        start.contains("0ld-reference-secret-value"),
        "the value the run reads is kept"
    );
    assert!(
        !start.contains(OTHER_VALUE),
        "a secret the run does not read is not kept"
    );
    // On resume the other value is still masked, read from the file as it is.
    let out = test
        .command()
        .args(["resume", &run_id])
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_run_killed_before_its_journal_began_is_swept_with_a_message_by_the_next_run() {
    for failpoint in ["start:after-folder", "start:after-active"] {
        let test = project();
        crash(&test, failpoint);
        let orphan = runs(&test);
        assert_eq!(orphan.len(), 1, "{failpoint}: a folder was left");
        let out = test
            .command()
            .args(["run", "ref-rotation", "--yes"])
            .output()
            .expect("spawn");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{failpoint}: not blocked: {stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "removed run {}: it was interrupted before it began",
                orphan[0]
            )),
            "{failpoint}: {stderr}"
        );
        assert!(!runs(&test).contains(&orphan[0]), "{failpoint}: swept");
        assert!(!test.path().join(".runbook/active").exists());
    }
}

#[test]
fn a_started_run_that_was_never_marked_active_is_swept_with_its_start_file() {
    // What earlier versions left when killed between `start.json` and the active marker: a
    // journal that began, the start file with secrets in it, nothing marking the run.
    let test = project();
    crash(&test, "before-intent:ref-rotation/new");
    let run_id = active(&test);
    std::fs::remove_file(test.path().join(".runbook/active")).expect("unmark");
    // Earlier versions kept no record of their last sweep.
    std::fs::remove_file(test.path().join(".runbook/swept")).expect("no sweep record");
    let out = test
        .command()
        .args(["run", "ref-rotation", "--yes"])
        .output()
        .expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("removed run {run_id}")),
        "{stderr}"
    );
    assert!(
        !runs(&test).contains(&run_id),
        "the start file is gone with its run"
    );
    assert_eq!(runs(&test).len(), 1, "the new run's journal stays");
}

#[test]
fn a_resumed_run_still_masks_the_secrets_it_did_not_keep() {
    // The values of secrets the run does not read are not in start.json, so `resume` reads
    // them from the env file again to mask them: a step that prints one shows a mask.
    let printing = RUNBOOK.to_string()
        + "  - id: show\n    needs: [write]\n    idempotent: true\n    exec: { run: 'grep ^OTHER= .env.prod' }\n";
    let test = Test::new()
        .file("runbooks/ref.yaml", &printing)
        .file("runbooks/other.yaml", OTHER_RUNBOOK)
        .file(
            ".env.prod",
            &ENV.replace("OTHER=unchanged", &format!("OTHER={OTHER_VALUE}")),
        );
    crash(&test, "before-intent:ref-rotation/show");
    let run_id = active(&test);
    let out = test
        .command()
        .args(["resume", &run_id, "-v"])
        .output()
        .expect("spawn");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("OTHER=********"),
        "the step's output is shown masked: {stdout}"
    );
    assert!(!stdout.contains(OTHER_VALUE) && !stderr.contains(OTHER_VALUE));
}

#[test]
fn a_temp_copy_left_by_an_earlier_version_is_removed_by_the_next_run() {
    // Earlier versions named their copies `..env.prod.XXXXXX.tmp` and never removed one a kill
    // left; a later `resume` or `abort` may have come and gone. The next run that edits the
    // file removes it, and says so.
    let test = project().file(
        "..env.prod.Ab12Cd.tmp",
        "export REF_SECRET=leaked-new-secret-value\n",
    );
    let out = test
        .command()
        .args(["run", "ref-rotation", "--yes"])
        .output()
        .expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(temp_copies(&test), Vec::<String>::new());
    assert!(
        stderr.contains("removed 1 temporary copy of") && !stderr.contains("leaked-new"),
        "{stderr}"
    );
}

/// Found by the torture test with more tries: killed after its end was journaled but before it
/// cleaned up, a run left its pending values and the active marker behind. The marker blocked
/// every new run (exit 4) while `resume` and `abort` refused a run that had already ended.
#[test]
fn a_run_killed_after_its_end_was_journaled_is_cleaned_up_by_the_next_run() {
    let test = project();
    crash(&test, "end:after-record");
    let run_id = active(&test);
    let pending = test
        .path()
        .join(".runbook/runs")
        .join(&run_id)
        .join("pending");
    assert!(pending.exists(), "the kill left the pending values");
    let out = test
        .command()
        .args(["run", "ref-rotation", "--yes"])
        .output()
        .expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "not blocked: {stderr}");
    assert!(
        stderr.contains(&format!(
            "run {run_id} had ended but was interrupted while cleaning up"
        )),
        "{stderr}"
    );
    assert!(!pending.exists(), "the pending values are gone");
    assert!(!test.path().join(".runbook/active").exists());
    assert_eq!(
        backups_beside(&test),
        Vec::<String>::new(),
        "the backup kept beside the env file is gone"
    );
    // The journal, which the audit trail needs, is kept.
    assert!(
        test.path()
            .join(".runbook/runs")
            .join(&run_id)
            .join("journal.jsonl")
            .exists()
    );
}

/// The active marker is not fsynced (the journal is): a power cut can lose it while the
/// journal keeps the run's intents. The run is then found from its journal — by `status`, and
/// by the next run, which marks it again and refuses to start over it.
#[test]
fn a_run_that_lost_its_active_marker_is_found_from_its_journal() {
    let test = project();
    crash(&test, "after-effect:ref-rotation/write");
    let run_id = active(&test);
    std::fs::remove_file(test.path().join(".runbook/active")).expect("lose the marker");
    in_another_boot(&test);
    let status = test.run_args(&["status"]);
    assert!(
        status.stdout.contains(&format!("unfinished run {run_id}")),
        "{}",
        status.stdout
    );
    let out = test
        .command()
        .args(["run", "ref-rotation", "--yes"])
        .output()
        .expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "refused: {stderr}");
    assert!(
        stderr.contains(&format!("runbook resume {run_id}")),
        "{stderr}"
    );
    assert_eq!(active(&test), run_id, "marked active again");
    let aborted = test
        .command()
        .args(["abort", &run_id])
        .output()
        .expect("spawn");
    assert_eq!(aborted.status.code(), Some(0));
    assert_eq!(test.read(".env.prod"), ENV.as_bytes(), "restored");
    assert_eq!(backups_beside(&test), Vec::<String>::new());
}

/// A backup beside the env file whose run ended (a power cut undid its removal after the end
/// was on disk) holds an old secret: the next run that edits the file removes it, saying so.
#[test]
fn a_backup_left_beside_the_file_by_an_ended_run_is_removed_by_the_next_run() {
    let test = project().file(
        "..env.prod.runbook-20200101T000000Z-abc123-1.bak",
        "export REF_SECRET=an-old-secret-value\n",
    );
    let out = test
        .command()
        .args(["run", "ref-rotation", "--yes"])
        .output()
        .expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(backups_beside(&test), Vec::<String>::new());
    assert!(
        stderr.contains("removed 1 backup of") && !stderr.contains("an-old-secret"),
        "{stderr}"
    );
}
