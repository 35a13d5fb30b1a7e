//! Arming: the intent of the step that starts next is journaled (and fsynced) while the step
//! before it runs, and the step journals only a `started` mark, not fsynced, when it starts.
//! A kill -9 leaves that mark in the file; a machine crash may not. These tests kill the
//! real binary while an armed step waits for its predecessor and check what `resume` and
//! `abort` make of the journal: read back in the same boot, an armed step with no mark never
//! started; read back after a reboot (the journal's boot id rewritten as another boot would
//! find it), it may have, and is judged; and one whose predecessor failed never started.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Test;

/// `first` runs until `release` exists and then does what `then` says; `second` needs it and
/// has no `check` and is not idempotent, so if it were in doubt nobody could judge it and
/// `resume` would stop (exit 3) naming it. Each step appends its name to `ran`. A step a kill
/// left running also stops once `ran` is gone: the test removes its folder as it ends, and a
/// loop that missed `release` would otherwise poll a deleted folder forever.
fn chain(then: &str) -> String {
    format!(
        r#"name: chain
steps:
  - id: zero
    exec: {{ run: 'echo zero >> ran' }}
    rollback: {{ exec: {{ run: 'echo undo-zero >> ran; touch rolling; while [ ! -e release-rollback ] && [ -e ran ]; do sleep 0.05; done' }} }}
  - id: first
    needs: [zero]
    exec: {{ run: 'echo first >> ran; touch running; while [ ! -e release ] && [ -e ran ]; do sleep 0.05; done; {then}' }}
    check: {{ run: 'grep -q first ran' }}
  - id: second
    needs: [first]
    exec: {{ run: 'echo second >> ran' }}
  - id: third
    needs: [second]
    exec: {{ run: 'echo third >> ran' }}
"#
    )
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_id(test: &Test) -> String {
    String::from_utf8(test.read(".runbook/active"))
        .unwrap()
        .trim()
        .to_string()
}

fn journal_path(test: &Test) -> PathBuf {
    test.path()
        .join(format!(".runbook/runs/{}/journal.jsonl", run_id(test)))
}

fn records(journal: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.rsplit_once(' '))
        .filter_map(|(json, _)| serde_json::from_str(json).ok())
        .collect()
}

/// The node number of the step an `armed` record names, once one does.
fn armed_node(journal: &Path, step: &str) -> Option<u64> {
    records(journal).iter().find_map(|r| {
        (r["record"] == "armed" && r["name"] == format!("chain/{step}"))
            .then(|| r["node"].as_u64().unwrap())
    })
}

fn ran(test: &Test) -> String {
    String::from_utf8(test.read("ran")).unwrap()
}

/// Starts the run, waits until `first` runs and `second` is armed behind it, and returns the
/// running `runbook` with the journal's path and `second`'s node.
fn run_until_second_is_armed(test: &Test) -> (std::process::Child, PathBuf, u64) {
    let child = test
        .command()
        .args(["run", "chain", "--yes", "--jobs", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("`first` running", || test.path().join("running").exists());
    let journal = journal_path(test);
    let mut second = None;
    wait_until("`second` armed", || {
        second = armed_node(&journal, "second");
        second.is_some()
    });
    (child, journal, second.unwrap())
}

/// Kills `runbook` as a crash would, then lets the step it left running finish.
fn kill_then_release(test: &Test, mut child: std::process::Child, release: &str) {
    child.kill().unwrap();
    child.wait().unwrap();
    test.write(release, b"");
}

/// Rewrites the journal as a reboot would find it: its `boot` record names another boot, and
/// each rewritten line gets its checksum (CRC-32 of the JSON, 8 hex digits) again. `lost`
/// names a kind of record (not fsynced) that the power cut took with it.
fn as_after_a_reboot(journal: &Path, lost: Option<&str>) {
    let text = std::fs::read_to_string(journal).unwrap();
    let mut out = String::new();
    let mut rewritten = 0;
    for line in text.lines() {
        let (json, _) = line.rsplit_once(' ').unwrap();
        let mut record: serde_json::Value = serde_json::from_str(json).unwrap();
        if lost.is_some_and(|lost| record["record"] == lost) {
            continue;
        }
        if record["record"] == "boot" {
            record["id"] = "00000000-0000-4000-8000-000000000000".into();
            rewritten += 1;
        }
        let json = serde_json::to_string(&record).unwrap();
        out.push_str(&format!(
            "{json} {:08x}\n",
            crc32fast::hash(json.as_bytes())
        ));
    }
    assert_eq!(rewritten, 1, "the run recorded its boot once: {text}");
    std::fs::write(journal, out).unwrap();
}

#[test]
fn an_armed_step_a_kill_cut_off_before_it_started_is_not_in_doubt_and_runs_once() {
    let test = Test::new().file("runbooks/chain.yaml", &chain("true"));
    let (child, journal, second) = run_until_second_is_armed(&test);
    kill_then_release(&test, child, "release");
    let before = records(&journal);
    assert!(
        !before
            .iter()
            .any(|r| r["record"] == "started" && r["node"] == second),
        "`second` had not started: {before:?}"
    );

    // In doubt, `second` (no `check`, not idempotent) would stop the resume with exit 3.
    let resume = test.run_args(&["resume", &run_id(&test)]);
    resume.expect_code(0);
    // `first` was cut off and its check found it done; `second` ran once, by the resume.
    assert_eq!(ran(&test), "zero\nfirst\nsecond\nthird\n");
}

#[test]
fn after_a_reboot_an_armed_step_without_its_started_mark_is_in_doubt() {
    let test = Test::new().file("runbooks/chain.yaml", &chain("true"));
    let (child, journal, _) = run_until_second_is_armed(&test);
    kill_then_release(&test, child, "release");
    as_after_a_reboot(&journal, None);

    // `first` is judged by its check; `second` may have started and nobody can tell.
    let resume = test.run_args(&["resume", &run_id(&test)]);
    resume.expect_code(3);
    assert!(
        resume
            .stderr
            .contains("step `chain/second` was about to start when the machine stopped"),
        "{}",
        resume.stderr
    );
    assert_eq!(ran(&test), "zero\nfirst\n", "nothing ran without an answer");
}

#[test]
fn an_armed_step_whose_predecessor_failed_never_started_whatever_the_boot() {
    let test = Test::new().file("runbooks/chain.yaml", &chain("exit 1"));
    let (child, journal, second) = run_until_second_is_armed(&test);
    // `first` fails; the run rolls `zero` back, and is killed in that rollback.
    test.write("release", b"");
    wait_until("the rollback", || test.path().join("rolling").exists());
    kill_then_release(&test, child, "release-rollback");
    let before = records(&journal);
    assert!(
        before
            .iter()
            .any(|r| r["record"] == "failed" && r["name"] == "chain/first")
            && before.iter().any(|r| r["record"] == "disarmed"
                && r["nodes"].as_array().unwrap().contains(&second.into())),
        "`first` failed and the run said `second` will not start: {before:?}"
    );
    // A reboot that lost the `disarmed` line still leaves `first`'s failure: `second`
    // waited for it.
    as_after_a_reboot(&journal, Some("disarmed"));

    let abort = test.run_args(&["abort", &run_id(&test)]);
    abort.expect_code(0);
    assert!(!abort.stderr.contains("chain/second"), "{}", abort.stderr);
    assert_eq!(
        ran(&test),
        "zero\nfirst\nundo-zero\nundo-zero\n",
        "`second` never ran; `zero`'s cut-off rollback ran again"
    );
}

#[test]
fn a_step_an_armed_step_went_on_after_ended_well_though_a_reboot_lost_its_result() {
    // `first` has neither `check` nor `idempotent`: judged on its own, nobody could tell.
    let runbook = r#"name: chain
steps:
  - id: first
    exec: { run: 'echo first >> ran' }
  - id: second
    needs: [first]
    exec: { run: 'echo second >> ran; touch running; while [ ! -e release ] && [ -e ran ]; do sleep 0.05; done' }
    check: { run: 'grep -q second ran' }
"#;
    let test = Test::new().file("runbooks/chain.yaml", runbook);
    let (child, journal, second) = run_until_second_is_armed(&test);
    kill_then_release(&test, child, "release");
    let before = records(&journal);
    assert!(
        before
            .iter()
            .any(|r| r["record"] == "started" && r["node"] == second),
        "`second` started: {before:?}"
    );
    // The power cut kept `second`'s mark but lost `first`'s result, written just before.
    as_after_a_reboot(&journal, Some("done"));

    let resume = test.run_args(&["resume", &run_id(&test)]);
    resume.expect_code(0);
    assert_eq!(ran(&test), "first\nsecond\n", "nothing ran twice");
}
