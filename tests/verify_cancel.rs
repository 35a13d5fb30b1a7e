//! After one verify fails, the verifies still running are cancelled at once — their process
//! groups killed, no further try — so the rollback starts without waiting for them.

mod common;

use std::time::{Duration, Instant};

use common::Test;

/// `slow` runs until its timeout, then would try once more; `broken` fails once `slow` has
/// started (and counted its try: the kill may land right after `slow.pid` is written).
const RUNBOOK: &str = r#"name: checks
steps:
  - id: change
    exec: { run: touch changed }
    rollback:
      exec: { run: touch undone }
  - id: slow
    needs: [change]
    verify:
      exec: { run: 'echo try >> slow-tries; echo $$ > slow.pid; while :; do sleep 0.05; done' }
      retries: 1
      timeout: 10s
  - id: broken
    needs: [change]
    verify:
      exec: { run: 'while [ ! -e slow.pid ]; do sleep 0.05; done; false' }
"#;

#[test]
fn a_failed_verify_cancels_its_running_siblings_before_the_rollback() {
    let test = Test::new()
        .file("runbooks/checks.yaml", RUNBOOK)
        .args(&["run", "checks", "--yes", "--jobs", "4", "--format", "json"]);
    let run = test.run();
    run.expect_code(1);
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let position = |pred: &dyn Fn(&serde_json::Value) -> bool| {
        events
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("no such event in {}", run.stdout))
    };
    let slow = position(&|e| e["event"] == "step_finished" && e["step"] == "checks/slow");
    assert_eq!(events[slow]["status"], "failed");
    assert_eq!(events[slow]["error_kind"], "cancelled", "{}", events[slow]);
    let undo = position(&|e| {
        e["event"]
            .as_str()
            .is_some_and(|k| k.starts_with("compensation"))
    });
    assert!(
        slow < undo,
        "cancelled before the rollback began: {}",
        run.stdout
    );
    assert!(test.path().join("undone").exists(), "rolled back");
    assert_eq!(
        std::fs::read_to_string(test.path().join("slow-tries")).unwrap(),
        "try\n",
        "no second try"
    );
    // Its process group was killed: the shell's pid goes away (bounded wait for the reaper).
    let pid = std::fs::read_to_string(test.path().join("slow.pid")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{}", pid.trim())).exists() {
        assert!(Instant::now() < deadline, "the cancelled verify still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
}
