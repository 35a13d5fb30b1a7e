//! A start looks at past runs only when it must: once a sweep has left every run that needs
//! anything named by the active marker, the next start in the same boot, finding `runs/` as
//! that sweep wrote it down (`.runbook/swept`), examines only the marked run — a long history
//! costs nothing. A run folder added or removed since, or another boot, makes it examine them
//! all. Observed through the real binary under `strace` (which past run folders it touched),
//! and through what the sweep does to a folder added behind its back.

mod common;

use common::Test;

const RUNBOOK: &str = common::REF_ROTATION;

/// The past runs the tests make up: settled ones (a journal, a 0700 folder with no `backup/`
/// or `pending/`).
const OLD: &str = "20200101T000000Z-";

fn project() -> Test {
    Test::new()
        .file("runbooks/ref.yaml", RUNBOOK)
        .file(".env.prod", "REF_SECRET=old-reference-value\n")
}

/// A history of `count` settled runs, as earlier runs leave them.
fn history(test: &Test, count: usize) {
    for i in 0..count {
        let dir = test.path().join(format!(".runbook/runs/{OLD}{i:06x}"));
        std::fs::create_dir_all(&dir).expect("run folder");
        std::fs::write(dir.join("journal.jsonl"), "").expect("journal");
    }
}

/// Runs the rotation under `strace` and returns its exit code and how many calls named a past
/// run's folder.
fn run_counting_history(test: &Test) -> (Option<i32>, usize) {
    let (code, text) =
        common::strace::trace(test, &["run", "ref-rotation", "--yes"], "%file,%desc");
    (code, text.lines().filter(|l| l.contains(OLD)).count())
}

#[test]
fn a_start_after_a_clean_sweep_reads_no_past_run() {
    if !common::strace::available("the sweep's reads are not checked") {
        return;
    }
    let test = project();
    history(&test, 40);
    // No sweep has seen these folders: the first start looks at each of them.
    let (code, touched) = run_counting_history(&test);
    assert_eq!(code, Some(0));
    assert!(
        touched >= 40,
        "the first start examined the history: {touched} calls"
    );
    // That start left every run that needs anything marked (none), and added only its own.
    let (code, touched) = run_counting_history(&test);
    assert_eq!(code, Some(0));
    assert_eq!(touched, 0, "the next start read no past run");
    assert!(
        test.path().join(".runbook/swept").exists(),
        "the sweep is recorded"
    );
}

#[test]
fn a_run_folder_added_since_the_last_sweep_is_examined() {
    use std::os::unix::fs::DirBuilderExt;
    let test = project();
    test.run_args(&["run", "ref-rotation", "--yes"]);
    // A run cut off before it began, made behind the last sweep's back: its folder marked live
    // (0700 and the sticky bit), no journal (what a kill between the folder and the active
    // marker leaves); and the same as earlier versions left it, an empty `backup/` in a 0700
    // folder.
    for (orphan, earlier) in [
        (format!("{OLD}0000aa"), false),
        (format!("{OLD}0000ab"), true),
    ] {
        let folder = test.path().join(format!(".runbook/runs/{orphan}"));
        if earlier {
            std::fs::create_dir_all(folder.join("backup")).expect("orphan folder");
        } else {
            std::fs::DirBuilder::new()
                .mode(0o1700)
                .create(&folder)
                .expect("orphan folder");
        }
        let stderr = test
            .run_args(&["run", "ref-rotation", "--yes"])
            .expect_code(0)
            .stderr
            .clone();
        assert!(
            stderr.contains(&format!("removed run {orphan}")),
            "the added folder was examined (earlier version: {earlier}): {stderr}"
        );
        assert!(!folder.exists());
    }
}

#[test]
fn a_sweep_record_of_another_boot_or_not_ours_is_not_trusted() {
    let test = project();
    test.run_args(&["run", "ref-rotation", "--yes"]);
    let orphan = format!("{OLD}0000bb");
    let swept = test.path().join(".runbook/swept");
    // First untouched, which shows the record below is the one a sweep writes: trusted, it
    // hides the added folder. Then each way it can be wrong, which must make the start look.
    for tamper in ["none", "another boot", "garbled", "writable by others"] {
        // The folder is added, then the record is made to match `runs/` as it now is: only
        // the boot or the file itself can make the start look.
        std::fs::create_dir_all(test.path().join(format!(".runbook/runs/{orphan}/backup")))
            .expect("orphan folder");
        let runs = test.path().join(".runbook/runs");
        let line = runs_line(&swept, &runs);
        let written = match tamper {
            "another boot" => line.replacen(
                line.split_whitespace().next().unwrap(),
                "00000000-0000-4000-8000-000000000000",
                1,
            ),
            "garbled" => line.replace(' ', "_"),
            _ => line.clone(),
        };
        std::fs::write(&swept, written).expect("rewrite the record");
        if tamper == "writable by others" {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&swept, std::fs::Permissions::from_mode(0o666))
                .expect("chmod");
        }
        let stderr = test
            .run_args(&["run", "ref-rotation", "--yes"])
            .expect_code(0)
            .stderr
            .clone();
        if tamper == "none" {
            assert!(!stderr.contains("removed run"), "trusted: {stderr}");
            continue;
        }
        assert!(
            stderr.contains(&format!("removed run {orphan}")),
            "{tamper}: the folder was examined: {stderr}"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&swept)
        .expect("recorded again")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "a record open to others is replaced by one of ours"
    );
}

#[test]
fn a_sweep_record_that_cannot_be_written_costs_only_a_full_sweep() {
    // A folder where the record goes: it can be neither read as one nor written, so every
    // start examines every run. Shown by a run whose marker is gone in this same boot, which
    // only a full sweep finds (a trusted record would leave it to the marker).
    let test = project();
    std::fs::create_dir_all(test.path().join(".runbook/swept")).expect("a folder in its place");
    test.run_args(&["run", "ref-rotation", "--yes"])
        .expect_code(0);
    let killed = test
        .command()
        .args(["run", "ref-rotation", "--yes"])
        .env("RUNBOOK_FAILPOINT", "after-effect:ref-rotation/write")
        .output()
        .expect("spawn");
    assert_eq!(killed.status.code(), None, "killed after its edit");
    let marker = test.path().join(".runbook/active");
    let run_id = std::fs::read_to_string(&marker).expect("marked");
    std::fs::remove_file(&marker).expect("lose the marker");
    let refused = test.run_args(&["run", "ref-rotation", "--yes"]);
    refused.expect_code(4);
    assert!(
        refused
            .stderr
            .contains(&format!("runbook resume {}", run_id.trim())),
        "found from its journal: {}",
        refused.stderr
    );
    assert!(
        test.path().join(".runbook/swept").is_dir(),
        "left as it was"
    );
}

/// The record a sweep would write for `runs/` as it is now: the boot id of the record already
/// there, then the directory's numbers (see `src/exec/swept.rs`).
fn runs_line(swept: &std::path::Path, runs: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let old = std::fs::read_to_string(swept).expect("the last sweep is recorded");
    let boot = old.split_whitespace().next().expect("a boot id");
    let meta = std::fs::symlink_metadata(runs).expect("runs/");
    format!(
        "{boot:<40} {:016x} {:016x} {:016x} {:016x}.{:08x} {:016x}.{:08x}\n",
        meta.dev(),
        meta.ino(),
        meta.nlink(),
        meta.ctime(),
        meta.ctime_nsec(),
        meta.mtime(),
        meta.mtime_nsec(),
    )
}
