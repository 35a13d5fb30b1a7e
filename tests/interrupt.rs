//! Ctrl-C: once lets the step in flight finish and stops before the next (exit 130, the run
//! journaled and resumable); twice kills the step's whole process group.

mod common;

use std::time::{Duration, Instant};

use common::Test;

fn wait_for(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn interrupt(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn one_ctrl_c_finishes_the_step_in_flight_then_stops_resumably() {
    let runbook = "name: two\nsteps:\n  - id: first\n    exec: { run: 'touch first-started; while [ ! -e release ]; do sleep 0.05; done; touch first-done' }\n  - id: second\n    needs: [first]\n    exec: { run: touch second-done }\n";
    let test = Test::new().file("runbooks/two.yaml", runbook);
    // Release the step in flight only once the run has said it saw the interrupt.
    let (code, stdout) = interrupt_in_flight(&test, "two", "first-started");
    assert_eq!(code, Some(130), "{stdout}");
    assert!(
        test.path().join("first-done").exists(),
        "the step in flight finished"
    );
    assert!(
        !test.path().join("second-done").exists(),
        "nothing new started after Ctrl-C"
    );
    let run_id = String::from_utf8(test.read(".runbook/active"))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        stdout.contains(&format!("runbook resume {run_id}")),
        "{stdout}"
    );
    let resumed = test.command().args(["resume", &run_id]).output().unwrap();
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stdout)
    );
    assert!(
        test.path().join("second-done").exists(),
        "resume ran the rest"
    );
}

#[test]
fn two_ctrl_c_kill_the_step_process_group() {
    let runbook = "name: hang\nsteps:\n  - id: wait\n    exec: { run: 'echo $$ > pgid; sleep 300 & sleep 300' }\n";
    let test = Test::new().file("runbooks/hang.yaml", runbook);
    let mut child = test
        .command()
        .args(["run", "hang", "--yes"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&test.path().join("pgid"));
    let started = Instant::now();
    interrupt(child.id());
    std::thread::sleep(Duration::from_millis(200));
    interrupt(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the hung step was killed, not waited for"
    );
    let pgid = String::from_utf8(test.read("pgid"))
        .unwrap()
        .trim()
        .to_string();
    let alive = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ps -eo pgid=,stat= | awk '$1 == {pgid} && $2 !~ /^Z/' | wc -l"
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(alive.stdout).unwrap().trim(),
        "0",
        "no process of the step's group survives"
    );
}

/// Reads the run's JSON lines until one contains `needle`, keeping what was read.
fn read_until(reader: &mut impl std::io::BufRead, seen: &mut String, needle: &str) {
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "output ended before `{needle}`: {seen}"
        );
        seen.push_str(&line);
        if line.contains(needle) {
            return;
        }
    }
}

#[test]
fn second_ctrl_c_during_a_retry_wait_stops_at_once_without_a_new_attempt() {
    // The wait is far longer than the test allows: only a wait that ends on cancellation passes.
    let runbook = "name: flaky\nsteps:\n  - id: flaky\n    retries: 3\n    interval: 600s\n    exec: { run: 'echo attempt >> attempts; exit 1' }\n";
    let test = Test::new().file("runbooks/flaky.yaml", runbook);
    let mut child = test
        .command()
        .args(["run", "flaky", "--format", "json", "--yes"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut stdout = String::new();
    read_until(&mut reader, &mut stdout, "\"event\":\"step_retry\"");
    let started = Instant::now();
    interrupt(child.id());
    read_until(&mut reader, &mut stdout, "interrupted: finishing");
    interrupt(child.id());
    std::io::Read::read_to_string(&mut reader, &mut stdout).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{stdout}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the retry wait ended on the second Ctrl-C"
    );
    assert_eq!(
        String::from_utf8(test.read("attempts")).unwrap(),
        "attempt\n",
        "no new attempt started"
    );
    let run_id = String::from_utf8(test.read(".runbook/active"))
        .unwrap()
        .trim()
        .to_string();
    let journal =
        String::from_utf8(test.read(&format!(".runbook/runs/{run_id}/journal.jsonl"))).unwrap();
    // The first try's intent is journaled ahead (`armed`) or as it starts (`intent`); a second
    // try would journal one more `intent`.
    let intents = journal
        .lines()
        .filter(|l| l.contains("\"record\":\"intent\"") || l.contains("\"record\":\"armed\""))
        .count();
    assert_eq!(intents, 1, "no new intent was journaled: {journal}");
    assert!(
        stdout.contains("\"error_kind\":\"cancelled\""),
        "the failure says the run was cancelled: {stdout}"
    );
}

/// Runs `runbook`, sends one SIGINT once `started` exists (a step is in flight), waits until
/// the run has said it saw it, then creates `release` so the step in flight can finish.
fn interrupt_in_flight(test: &Test, runbook: &str, started: &str) -> (Option<i32>, String) {
    let mut child = test
        .command()
        .args(["run", runbook, "--yes"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&test.path().join(started));
    interrupt(child.id());
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut stdout = String::new();
    loop {
        let mut line = String::new();
        assert!(
            std::io::BufRead::read_line(&mut reader, &mut line).unwrap() > 0,
            "output ended early: {stdout}"
        );
        stdout.push_str(&line);
        if line.contains("interrupted: finishing the steps in flight") {
            break;
        }
    }
    test.write("release", b"");
    std::io::Read::read_to_string(&mut reader, &mut stdout).unwrap();
    (child.wait().unwrap().code(), stdout)
}

#[test]
fn ctrl_c_after_every_step_started_and_finished_ends_the_run_done() {
    let runbook = "name: one\nsteps:\n  - id: first\n    exec: { run: touch first-done }\n  - id: last\n    needs: [first]\n    exec: { run: 'touch last-started; while [ ! -e release ]; do sleep 0.05; done; touch last-done' }\n";
    let test = Test::new().file("runbooks/one.yaml", runbook);
    let (code, stdout) = interrupt_in_flight(&test, "one", "last-started");
    assert_eq!(code, Some(0), "{stdout}");
    assert!(test.path().join("last-done").exists());
    assert!(
        !test.path().join(".runbook/active").exists(),
        "no run is left to resume: {stdout}"
    );
    assert!(!stdout.contains("runbook resume"), "{stdout}");
}

#[test]
fn status_names_the_unfinished_run_and_how_to_end_it() {
    let runbook = "name: one\nsteps:\n  - id: last\n    exec: { run: 'touch last-started; while [ ! -e release ]; do sleep 0.05; done' }\n  - id: after\n    needs: [last]\n    exec: { run: touch after-done }\n";
    let test = Test::new().file("runbooks/one.yaml", runbook);
    let (code, stdout) = interrupt_in_flight(&test, "one", "last-started");
    assert_eq!(code, Some(130), "{stdout}");
    let run_id = String::from_utf8(test.read(".runbook/active"))
        .unwrap()
        .trim()
        .to_string();
    let status = test.command().arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("unfinished run {run_id} (one)"))
            && text.contains(&format!("runbook resume {run_id}"))
            && text.contains(&format!("runbook abort {run_id}")),
        "{text}"
    );
    let json = test
        .command()
        .args(["status", "--format", "json"])
        .output()
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&json.stdout).expect("stdout stays JSON");
    assert!(String::from_utf8_lossy(&json.stderr).contains(&format!("unfinished run {run_id}")));
}
