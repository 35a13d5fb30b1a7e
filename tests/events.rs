//! What a run emits, through the real binary: events are handed to their consumers and not
//! kept, so a chatty step does not grow the run's memory.

mod common;

use std::io::BufRead;

use common::Test;

/// The peak resident set of a live process, in KiB, from `/proc`.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_step_printing_many_lines_does_not_grow_the_run_memory() {
    // 400,000 short lines: 4 MB of output (the step's `stdout` output holds it), while a
    // kept event per line would cost some 200 bytes each.
    let runbook = "name: chatty\nsteps:\n  - id: talk\n    exec: { run: 'seq -f \"%09g\" 1 400000; echo last-line; while [ ! -e release ]; do sleep 0.05; done' }\n";
    let test = Test::new().file("runbooks/chatty.yaml", runbook);
    let mut child = test
        .command()
        .args(["run", "chatty", "--format", "json", "--yes"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut lines = 0;
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "output ended early"
        );
        lines += 1;
        if line.contains("last-line") {
            break;
        }
    }
    assert!(lines > 400_000, "every line was emitted");
    // Every output line has been handed on: what the run holds now is what it kept.
    let peak = peak_rss_kib(child.id());
    test.write("release", b"");
    std::io::Read::read_to_string(&mut reader, &mut String::new()).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(
        peak < 50 * 1024,
        "peak memory {peak} KiB after 4 MB of output"
    );
}

/// The JSON events of one step, by event name.
fn events_of<'a>(stdout: &'a str, event: &str, step: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .filter(|l| {
            l.contains(&format!("\"event\":\"{event}\""))
                && l.contains(&format!("\"step\":\"{step}\""))
        })
        .collect()
}

#[test]
fn a_template_error_is_not_retried_and_its_event_says_so() {
    // `validate` cannot know the shape of a command's JSON: this fails only at run time.
    let runbook = "name: shape\nsteps:\n  - id: probe\n    exec: { run: 'echo {\"a\": 1}' }\n  - id: use\n    needs: [probe]\n    retries: 3\n    interval: 10ms\n    exec:\n      run: 'cat'\n      stdin: '{{ steps.probe.json.missing.deeper }}'\n";
    let test = Test::new()
        .file("runbooks/shape.yaml", runbook)
        .args(&["run", "shape", "--format", "json"]);
    let run = test.run();
    run.expect_code(1);
    assert_eq!(
        events_of(&run.stdout, "step_started", "shape/use").len(),
        1,
        "tried once: {}",
        run.stdout
    );
    let finished = events_of(&run.stdout, "step_finished", "shape/use");
    assert!(
        finished.len() == 1 && finished[0].contains("\"error_kind\":\"template\""),
        "{}",
        run.stdout
    );
}

#[test]
fn a_failing_exit_is_retried_and_each_retry_names_its_kind() {
    let runbook = "name: flaky\nsteps:\n  - id: flaky\n    retries: 2\n    interval: 10ms\n    exec: { run: 'echo try >> tries; exit 3' }\n";
    let test = Test::new()
        .file("runbooks/flaky.yaml", runbook)
        .args(&["run", "flaky", "--format", "json"]);
    let run = test.run();
    run.expect_code(1);
    assert_eq!(
        String::from_utf8(test.read("tries")).unwrap(),
        "try\n".repeat(3)
    );
    let retries = events_of(&run.stdout, "step_retry", "flaky/flaky");
    assert!(
        retries.len() == 2
            && retries
                .iter()
                .all(|e| e.contains("\"error_kind\":\"exit\"")),
        "{}",
        run.stdout
    );
    let finished = events_of(&run.stdout, "step_finished", "flaky/flaky");
    assert!(
        finished[0].contains("\"error_kind\":\"exit\"") && finished[0].contains("after 3 tries"),
        "{}",
        run.stdout
    );
}
