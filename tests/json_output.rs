//! `--format json` means JSON on stdout whatever happens: a dry run is one JSON document, and
//! a command that stops early prints each problem as a JSON object on its own line (and
//! still exits with its documented code), never text.

mod common;

use common::Test;

const ENV: &str =
    "# settings\nJWT_SECRET=old-jwt-value-0123456789\nAPI_URL=http://localhost:3001\n";

const RUNBOOK: &str = "name: jwt-rotation\nsecret:\n  id: jwt\n  env: [JWT_SECRET]\n  every: 90d\n  impact: sessions end\nsteps:\n  - id: new\n    generate: { bytes: 32, encoding: hex }\n  - id: write\n    needs: [new]\n    env: { set: { JWT_SECRET: '{{ steps.new.value }}', FRESH: plain }, append: true }\n";

fn project() -> Test {
    Test::new()
        .file("runbook.yaml", "vars:\n  env_file: .env.prod\n")
        .file("runbooks/jwt.yaml", RUNBOOK)
        .file(".env.prod", ENV)
}

/// Every line of stdout parsed as JSON.
fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn dry_run_in_json_is_one_document_with_the_plan_and_masked_edits() {
    let test = project().args(&["run", "jwt-rotation", "--dry-run", "--format", "json"]);
    let run = test.run();
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["plan"]["runbook"], "jwt-rotation");
    let changes = &doc["edits"][0]["changes"];
    assert_eq!(changes[0]["key"], "FRESH", "{doc}");
    assert_eq!(changes[0]["op"], "add");
    assert_eq!(changes[1]["key"], "JWT_SECRET");
    assert_eq!(changes[1]["op"], "set");
    assert_eq!(changes[1]["line"], 2);
    assert_eq!(changes[1]["old"], "********");
    assert!(!run.stdout.contains("old-jwt-value"), "{}", run.stdout);
    assert_eq!(test.read(".env.prod"), ENV.as_bytes(), "nothing changed");
}

#[test]
fn a_validation_error_in_json_is_a_json_line_with_file_and_line() {
    let broken = RUNBOOK.replace("needs: [new]", "needs: [nwe]");
    let test = project().file("runbooks/jwt.yaml", &broken).args(&[
        "plan",
        "jwt-rotation",
        "--format",
        "json",
    ]);
    let run = test.run();
    run.expect_code(2);
    let errors = json_lines(&run.stdout);
    assert_eq!(errors.len(), 1, "{}", run.stdout);
    let error = &errors[0];
    assert_eq!(error["event"], "error");
    assert_eq!(error["code"], "runbook::check::unknown_needs");
    assert_eq!(error["line"], 11, "{error}");
    assert!(
        error["file"]
            .as_str()
            .unwrap()
            .ends_with("runbooks/jwt.yaml")
    );
    assert_eq!(error["exit"], 2);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn a_preflight_error_of_a_json_run_is_json_lines_on_stdout() {
    // Without `append`, a key the env file lacks is refused before anything runs.
    let test = project()
        .file("runbooks/jwt.yaml", &RUNBOOK.replace(", append: true", ""))
        .args(&["run", "jwt-rotation", "--yes", "--format", "json"]);
    let run = test.run();
    run.expect_code(2);
    let errors = json_lines(&run.stdout);
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .all(|e| e["event"] == "error" && e["exit"] == 2)
    );
    assert_eq!(
        errors[0]["code"], "runbook::run::preflight",
        "{}",
        run.stdout
    );
    assert!(errors[0]["message"].as_str().unwrap().contains("`FRESH`"));
    assert_eq!(test.read(".env.prod"), ENV.as_bytes(), "nothing changed");
    assert!(!test.path().join(".runbook/runs").exists(), "no run began");
}

#[test]
fn a_refusal_with_only_an_exit_code_is_json_too() {
    let test = project();
    test.write(".runbook/active", b"20260101T000000Z-abcdef\n");
    let run = test
        .args(&["run", "jwt-rotation", "--yes", "--format", "json"])
        .run();
    run.expect_code(4);
    let errors = json_lines(&run.stdout);
    assert_eq!(errors.len(), 1, "{}", run.stdout);
    assert_eq!(errors[0]["code"], serde_json::Value::Null);
    assert_eq!(errors[0]["exit"], 4);
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("runbook resume 20260101T000000Z-abcdef")
    );
}

#[test]
fn a_refused_command_line_asking_for_json_gets_a_json_line() {
    let run = project()
        .args(&["run", "jwt-rotation", "--jobs", "0", "--format", "json"])
        .run();
    run.expect_code(2);
    let errors = json_lines(&run.stdout);
    assert_eq!(errors.len(), 1, "{}", run.stdout);
    assert_eq!(errors[0]["code"], "runbook::usage::args");
    assert!(
        errors[0]["message"].as_str().unwrap().contains("--jobs"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    // Without JSON asked for, clap's own text on stderr, as before.
    let text = project()
        .args(&["run", "jwt-rotation", "--jobs", "0"])
        .run();
    text.expect_code(2);
    assert!(
        text.stdout.is_empty() && text.stderr.contains("--jobs"),
        "{}",
        text.stderr
    );
}
