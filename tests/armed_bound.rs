//! How many steps a run arms ahead: never more than four times `--jobs` armed and not yet
//! started, the bound on what a machine crash can leave in doubt beyond the running steps
//! (README, "What a run guarantees"). Read back from the journal of a whole run, in the order
//! its lines were written. A step the scheduler has just handed to a job writes its `started`
//! mark when its task runs, which may be after the next steps were armed: so the journal can
//! show up to `--jobs` more armed and unmarked, the ones starting.

mod common;

use common::Test;

/// 40 steps, each an `exec` (so each needs its intent on disk before it acts): 10 chains of 4.
fn chains() -> String {
    let mut runbook = String::from("name: chains\nsteps:\n");
    for chain in 0..10 {
        for link in 0..4 {
            runbook.push_str(&format!("  - id: c{chain}-{link}\n"));
            if link > 0 {
                runbook.push_str(&format!("    needs: [c{chain}-{}]\n", link - 1));
            }
            runbook.push_str("    exec: { run: [\"true\"] }\n");
        }
    }
    runbook
}

/// The most steps armed and not started at once over the run, and how many were armed.
fn armed_at_most(jobs: &str) -> (usize, usize) {
    let test = Test::new()
        .file("runbooks/chains.yaml", &chains())
        .args(&["run", "chains", "--jobs", jobs]);
    test.run().expect_code(0);
    let mut waiting = std::collections::BTreeSet::new();
    let (mut most, mut armed) = (0, 0);
    for record in test.only_run_journal() {
        let node = record["node"].as_u64();
        match record["record"].as_str() {
            Some("armed") => {
                assert!(
                    waiting.insert(node.expect("a node")),
                    "armed twice: {record}"
                );
                armed += 1;
            }
            Some("started") => _ = waiting.remove(&node.expect("a node")),
            _ => {}
        }
        most = most.max(waiting.len());
    }
    assert!(waiting.is_empty(), "armed, never started: {waiting:?}");
    (most, armed)
}

#[test]
fn at_most_four_steps_per_job_are_armed_and_not_started() {
    for (jobs, bound) in [("1", 4 + 1), ("2", 8 + 2)] {
        let (most, armed) = armed_at_most(jobs);
        assert!(armed > 0, "--jobs {jobs}: nothing was armed");
        assert!(most <= bound, "--jobs {jobs}: {most} armed at once");
    }
}
