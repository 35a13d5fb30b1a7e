//! `runbook run` through the real binary on real files and processes: rollback, parallelism,
//! timeouts that kill whole process trees, and preflight refusals of files. Inputs, vars and
//! operators are in `inputs.rs`.

mod common;

use std::time::{Duration, Instant};

use common::Test;

/// An env file with everything that must survive an edit untouched.
const NASTY_ENV: &[u8] = b"# production settings\r\nexport JWT_SECRET=\"old-jwt-value-0123456789\"\nSESSION_SECRET='old-session-value-987'  # keep me\n\nAPI_URL=http://localhost:3001\r\nLAST=no-final-newline";

/// A config whose restart driver records, for each restart, the env file's JWT line.
const CONFIG: &str = "vars:\n  env_file: .env.prod\nrestart:\n  run: 'echo \"restart {{ services | join(\",\") }} $(grep JWT_SECRET .env.prod | md5sum | cut -c1-8)\" >> restarts.log'\n";

fn rotation(verify: &str) -> String {
    format!(
        "name: jwt-rotation\nsecret: {{ id: jwt, env: [JWT_SECRET], every: 90d, impact: sessions }}\nsteps:\n  - id: new\n    generate: {{ bytes: 32, encoding: base64 }}\n  - id: write\n    needs: [new]\n    env: {{ set: {{ JWT_SECRET: \"{{{{ steps.new.value }}}}\" }} }}\n  - id: restart\n    needs: [write]\n    restart: [api, worker]\n  - id: check\n    needs: [restart]\n    verify:\n      exec: {{ run: \"{verify}\" }}\n"
    )
}

fn project(verify: &str) -> Test {
    let test = Test::new()
        .file("runbook.yaml", CONFIG)
        .file("runbooks/jwt.yaml", &rotation(verify));
    test.write(".env.prod", NASTY_ENV);
    test
}

#[test]
fn failed_verify_restores_env_file_byte_for_byte_and_restarts_again_after_the_restore() {
    let test = project("false").args(&["run", "jwt-rotation"]);
    let original_hash = {
        let jwt_line = NASTY_ENV
            .split(|b| *b == b'\n')
            .find(|l| l.windows(10).any(|w| w == b"JWT_SECRET"))
            .unwrap();
        jwt_line.to_vec()
    };
    let run = test.run();
    run.expect_code(1);
    assert_eq!(
        test.read(".env.prod"),
        NASTY_ENV,
        "the env file is byte-identical after rollback"
    );
    let log = String::from_utf8(test.read("restarts.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "restarted once by the run and once by the rollback: {log}"
    );
    assert!(lines[0].starts_with("restart api,worker "));
    let hash = |line: &str| line.rsplit(' ').next().unwrap().to_string();
    assert_ne!(
        hash(lines[0]),
        hash(lines[1]),
        "the first restart saw the new value, the second the restored one"
    );
    // The second restart saw the original JWT line: hash it the way the driver did.
    let expected = std::process::Command::new("sh")
        .arg("-c")
        .arg("printf '%s\\n' \"$LINE\" | md5sum | cut -c1-8")
        .env("LINE", String::from_utf8(original_hash).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        hash(lines[1]),
        String::from_utf8(expected.stdout).unwrap().trim(),
        "the rollback restart ran after the file was restored"
    );
    assert!(
        run.stdout.contains("everything was rolled back"),
        "{}",
        run.stdout
    );
}

#[test]
fn successful_rotation_changes_only_the_value_and_exits_0() {
    let test = project("true").args(&["run", "jwt-rotation"]);
    let run = test.run();
    run.expect_code(0);
    let after = String::from_utf8(test.read(".env.prod")).unwrap();
    let before = String::from_utf8(NASTY_ENV.to_vec()).unwrap();
    let changed: Vec<(&str, &str)> = before
        .split('\n')
        .zip(after.split('\n'))
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed.len(),
        1,
        "only the JWT line changed; CRLF lines and the unterminated last line are untouched"
    );
    assert!(
        after.ends_with("LAST=no-final-newline")
            && after.contains("API_URL=http://localhost:3001\r\n")
    );
    assert!(
        changed[0].1.starts_with("export JWT_SECRET=\"") && changed[0].1.ends_with('"'),
        "quoting and export kept: {:?}",
        changed[0].1
    );
    assert!(!after.contains("old-jwt-value"));
    assert!(
        !run.stdout.contains(
            changed[0]
                .1
                .trim_end_matches(['\r', '"'])
                .trim_start_matches("export JWT_SECRET=\"")
        )
    );
}

fn parallel_project(jobs: &str) -> Test {
    // Each step records its start, waits until the other has started (or gives up), and
    // records its end: with two jobs both see each other; with one they never overlap.
    let step = |me: &str, other: &str| {
        format!(
            "  - id: {me}\n    exec:\n      run: 'touch started-{me}; [ -e running ] && touch overlap; touch running; i=0; while [ ! -e started-{other} ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done; rm -f running; [ -e started-{other} ] && touch saw-{other}; true'\n"
        )
    };
    Test::new()
        .file(
            "runbooks/par.yaml",
            &format!("name: par\nsteps:\n{}{}", step("a", "b"), step("b", "a")),
        )
        .args(&["run", "par", "--jobs", jobs])
}

#[test]
fn independent_steps_overlap_with_two_jobs() {
    let test = parallel_project("2");
    test.run().expect_code(0);
    assert!(
        test.path().join("saw-b").exists() && test.path().join("saw-a").exists(),
        "each step saw the other running"
    );
}

#[test]
fn independent_steps_serialise_with_one_job() {
    let test = parallel_project("1");
    test.run().expect_code(0);
    assert!(
        !test.path().join("overlap").exists(),
        "the steps never ran at the same time"
    );
    assert!(
        !test.path().join("saw-b").exists(),
        "a finished before b started"
    );
}

fn processes_in_group(pgid: i32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command name: state ppid pgrp ...
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2].parse::<i32>() == Ok(pgid) && fields[0] != "Z" {
            found.push(pid);
        }
    }
    found
}

#[test]
fn timeout_kills_the_whole_process_tree_and_returns_promptly() {
    let test = Test::new()
        .file(
            "runbooks/slow.yaml",
            "name: slow\nsteps:\n  - id: hang\n    timeout: 1s\n    exec:\n      run: 'echo $$ > pgid; sleep 300 & sleep 300 & wait'\n",
        )
        .args(&["run", "slow"]);
    let started = Instant::now();
    let run = test.run();
    let elapsed = started.elapsed();
    run.expect_code(1);
    assert!(
        elapsed < Duration::from_secs(1 + 5 + 1),
        "returned within timeout + grace + 1 s, took {elapsed:?}"
    );
    assert!(run.stdout.contains("timed out after 1s"), "{}", run.stdout);
    let pgid: i32 = String::from_utf8(test.read("pgid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        processes_in_group(pgid),
        Vec::<i32>::new(),
        "no process of the step's group survives"
    );
}

#[test]
fn missing_env_key_is_refused_before_any_side_effect() {
    let test = Test::new()
        .file("runbook.yaml", CONFIG)
        .file("runbooks/jwt.yaml", &rotation("true"))
        .file(".env.prod", "OTHER=1\n")
        .args(&["run", "jwt-rotation"]);
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("key `JWT_SECRET` is not in"),
        "{}",
        run.stderr
    );
    assert!(!test.path().join("restarts.log").exists());
}

#[test]
fn dry_run_shows_a_masked_diff_and_changes_nothing() {
    let test = project("true").args(&["run", "jwt-rotation", "--dry-run"]);
    let run = test.run();
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("~ JWT_SECRET (line 2): ******** -> ********"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("old-jwt-value"));
    assert_eq!(test.read(".env.prod"), NASTY_ENV);
    assert!(!test.path().join("restarts.log").exists());
}

#[test]
fn json_format_emits_one_parseable_event_per_line() {
    let test = project("true").args(&["run", "jwt-rotation", "--format", "json"]);
    let run = test.run();
    run.expect_code(0);
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(events.first().unwrap()["event"], "run_started");
    assert_eq!(events.last().unwrap()["event"], "run_finished");
    assert_eq!(events.last().unwrap()["outcome"], "done");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "step_finished")
            .count(),
        4
    );
}

#[test]
fn declared_rollbacks_run_in_reverse_when_a_later_step_fails() {
    let runbook = r#"name: declared
steps:
  - id: first
    exec: { run: 'echo first >> order.log' }
    rollback:
      exec: { run: 'echo undo-first >> order.log' }
  - id: second
    needs: [first]
    exec: { run: 'echo second >> order.log' }
    rollback:
      env: { file: flags.env, set: { STATE: rolled-back } }
  - id: broken
    needs: [second]
    exec: { run: 'exit 3' }
"#;
    let test = Test::new()
        .file("runbooks/declared.yaml", runbook)
        .file("flags.env", "STATE=live\n")
        .args(&["run", "declared"]);
    let run = test.run();
    run.expect_code(1);
    assert_eq!(
        String::from_utf8(test.read("order.log")).unwrap(),
        "first\nsecond\nundo-first\n"
    );
    assert_eq!(
        test.read("flags.env"),
        b"STATE=rolled-back\n",
        "the env rollback body ran"
    );
    assert!(
        run.stdout.contains("exited with 3 (expected 0)"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_failing_compensation_exits_3_and_says_what_is_not_restored() {
    let runbook = r#"name: stuck
steps:
  - id: first
    exec: { run: 'true' }
    rollback:
      exec: { run: 'exit 7' }
  - id: broken
    needs: [first]
    exec: { run: 'false' }
"#;
    let test = Test::new()
        .file("runbooks/stuck.yaml", runbook)
        .args(&["run", "stuck"]);
    let run = test.run();
    run.expect_code(3);
    assert!(
        run.stdout
            .contains("ROLLBACK INCOMPLETE — not restored: stuck/first"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_failing_incident_run_pauses_with_exit_3_and_restores_nothing() {
    let rotation = |name: &str, id: &str, key: &str, verify: &str, implies: &str| {
        format!(
            "name: {name}\nsecret: {{ id: {id}, env: [{key}], every: 90d, impact: none, implies: [{implies}] }}\nsteps:\n  - id: new\n    generate: {{ bytes: 16, encoding: hex }}\n  - id: write\n    needs: [new]\n    env: {{ set: {{ {key}: \"{{{{ steps.new.value }}}}\" }} }}\n  - id: check\n    needs: [write]\n    verify: {{ exec: {{ run: \"{verify}\" }} }}\n"
        )
    };
    let playbook =
        "name: compromise\nmode: incident\nsteps:\n  - id: rotate\n    rotate: { implied: true }\n";
    let test = Test::new()
        .file(
            "runbooks/first.yaml",
            &rotation("first-rotation", "first", "FIRST_KEY", "true", "second"),
        )
        .file(
            "runbooks/second.yaml",
            &rotation("second-rotation", "second", "SECOND_KEY", "false", ""),
        )
        .file("runbooks/compromise.yaml", playbook)
        .file(
            ".env.prod",
            "FIRST_KEY=old-first-key\nSECOND_KEY=old-second-key\n",
        )
        .args(&["run", "compromise", "--secret", "first"]);
    let run = test.run();
    run.expect_code(3);
    assert!(
        run.stdout
            .contains("incident run paused, nothing was restored"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("rotated: first; partly rotated: second; not rotated: none"),
        "{}",
        run.stdout
    );
    let env = String::from_utf8(test.read(".env.prod")).unwrap();
    assert!(
        !env.contains("old-first-key") && !env.contains("old-second-key"),
        "compromised values are never put back: {env}"
    );
    assert!(
        test.path().join(".runbook/active").exists(),
        "the paused run stays open for resume"
    );
}

#[test]
fn an_env_file_with_a_duplicate_key_is_refused_before_any_side_effect() {
    let test = Test::new()
        .file("runbook.yaml", CONFIG)
        .file("runbooks/jwt.yaml", &rotation("true"))
        .file(
            ".env.prod",
            "JWT_SECRET=first-value-111\nOTHER=1\nJWT_SECRET=second-value-222\n",
        )
        .args(&["run", "jwt-rotation"]);
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("line 3: key `JWT_SECRET`")
            && run.stderr.contains("already defined on line 1"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("first-value") && !run.stderr.contains("second-value"),
        "no value in the error"
    );
    assert!(!test.path().join("restarts.log").exists() && !test.path().join(".runbook").exists());
}
