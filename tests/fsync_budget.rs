//! How many times a run waits for the disk, counted through the real binary under `strace`:
//! one env edit is the temp file's fsync, its directory's, and two of the journal (before the
//! edit: the run's beginning, the step's intent and where the old bytes are kept; then its end)
//! — every guarantee kept, each paid for once (README, "What a run guarantees"). A count, not
//! a timing: the same on a loaded machine. Without `strace` the test skips loudly, and under CI
//! (`CI` set) it fails instead; `.ci/test` installs it.

mod common;

use common::Test;

/// The calls that wait for the disk.
const SYNCS: &[&str] = &["fsync", "fdatasync", "syncfs", "sync_file_range", "sync"];

fn env_file(lines: usize) -> String {
    (0..lines).map(|i| format!("K{i}=value-{i}\n")).collect()
}

/// Runs `runbook ARGS` under `strace` and returns the sync calls it made, one line each
/// (`fsync(5</path/to/file>)`), with its exit code.
fn syncs_of(test: &Test, args: &[&str]) -> (Option<i32>, Vec<String>) {
    let (code, text) = common::strace::trace(test, args, &SYNCS.join(","));
    let calls = text
        .lines()
        .filter(|line| !line.contains("resumed>"))
        .filter_map(|line| {
            // `strace -f -o` starts each line with the pid, padded with spaces.
            let call = line
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start();
            SYNCS
                .iter()
                .any(|name| call.starts_with(&format!("{name}(")))
                .then(|| {
                    call.split(" <unfinished")
                        .next()
                        .unwrap_or(call)
                        .to_string()
                })
        })
        .collect();
    (code, calls)
}

fn strace_available() -> bool {
    common::strace::available("the fsync budget is not checked")
}

const EDIT: &str = r#"name: one
steps:
  - id: edit
    env: { file: .env, set: { K5: "new" } }
"#;

#[test]
fn one_env_edit_costs_at_most_four_syncs() {
    if !strace_available() {
        return;
    }
    let test = Test::new()
        .file("runbook.yaml", "runbooks: runbooks\n")
        .file("runbooks/one.yaml", EDIT)
        .file(".env", &env_file(1000));
    let (code, calls) = syncs_of(&test, &["run", "one", "--yes"]);
    assert_eq!(code, Some(0), "the run succeeds: {calls:#?}");
    assert!(
        String::from_utf8(test.read(".env"))
            .unwrap()
            .contains("K5=new\n"),
        "the edit happened"
    );
    assert!(calls.len() <= 4, "{} syncs: {calls:#?}", calls.len());
    // Which four: the env file's temp copy and its directory, and the journal twice.
    let journal = calls.iter().filter(|c| c.contains("journal.jsonl")).count();
    let temp = calls
        .iter()
        .filter(|c| c.contains(".runbook-") && c.contains(".tmp>"))
        .count();
    assert_eq!((journal, temp), (2, 1), "{calls:#?}");
}

#[test]
fn a_generated_value_costs_one_sync_more_than_the_edit_that_uses_it() {
    // The new value is in a 0600 pending file, on disk before any step can use it: one fsync
    // (a new file: no rename, no directory fsync), beside the edit's four.
    if !strace_available() {
        return;
    }
    let runbook = r#"name: gen
steps:
  - id: new
    generate: { bytes: 16, encoding: hex }
  - id: edit
    needs: [new]
    env: { file: .env, set: { K5: "{{ steps.new.value }}" } }
"#;
    let test = Test::new()
        .file("runbook.yaml", "runbooks: runbooks\n")
        .file("runbooks/gen.yaml", runbook)
        .file(".env", &env_file(10));
    let (code, calls) = syncs_of(&test, &["run", "gen", "--yes"]);
    assert_eq!(code, Some(0), "{calls:#?}");
    assert!(calls.len() <= 5, "{} syncs: {calls:#?}", calls.len());
    assert_eq!(
        calls.iter().filter(|c| c.contains("/pending/")).count(),
        1,
        "{calls:#?}"
    );
}
