//! How many steps a run without `--jobs` lets run at once, as its journal's `begin` record
//! says and `resume` reads back: one per core, and one for a plan of a single node (whose run
//! does not ask how many cores there are).

mod common;

use common::Test;

/// The `jobs` of the one run in `test`'s state directory.
fn journaled_jobs(test: &Test) -> u64 {
    let begin = test
        .only_run_journal()
        .into_iter()
        .find(|record| record["record"] == "begin")
        .expect("a begin record");
    begin["jobs"].as_u64().expect("jobs is a number")
}

const ONE_STEP: &str = "name: one\nsteps:\n  - id: only\n    exec: { run: [\"true\"] }\n";
const TWO_STEPS: &str = "name: two\nsteps:\n  - id: a\n    exec: { run: [\"true\"] }\n  - id: b\n    exec: { run: [\"true\"] }\n";

/// The `jobs` journaled by a run of `runbook` (the text of `runbooks/it.yaml`) with `args`.
fn jobs_of(runbook: &str, args: &[&str]) -> u64 {
    let test = Test::new().file("runbooks/it.yaml", runbook).args(args);
    test.run().expect_code(0);
    journaled_jobs(&test)
}

#[test]
fn a_single_step_runs_with_one_job() {
    assert_eq!(jobs_of(ONE_STEP, &["run", "one"]), 1);
}

#[test]
fn more_steps_run_with_one_job_per_core() {
    let cores = std::thread::available_parallelism()
        .expect("the core count")
        .get();
    assert_eq!(jobs_of(TWO_STEPS, &["run", "two"]), cores as u64);
}

#[test]
fn jobs_given_are_jobs_used_even_for_one_step() {
    assert_eq!(jobs_of(ONE_STEP, &["run", "one", "--jobs", "3"]), 3);
}
