//! `runbook validate`: every invalid fixture exits 2 with a diagnostic that names the file and
//! line, and the shipped library is valid.

mod common;

use common::{Test, repo};

/// Each fixture with the `file:line` its diagnostic must point at.
const FIXTURES: &[(&str, &str)] = &[
    ("activate-needs-retire.yaml", "activate-needs-retire.yaml:8"),
    ("alias-bomb.yaml", "alias-bomb.yaml:8"),
    ("cycle.yaml", "cycle.yaml:4"),
    ("deep-nesting.yaml", "deep-nesting.yaml:4"),
    ("duplicate-id.yaml", "duplicate-id.yaml:3"),
    ("empty-file.yaml", "the file is empty"),
    ("empty-run.yaml", "empty-run.yaml:5"),
    ("env-not-a-list.yaml", "env-not-a-list.yaml:4"),
    ("every-zero.yaml", "every-zero.yaml:5"),
    ("http-status.yaml", "http-status.yaml:5"),
    ("http-url-no-scheme.yaml", "http-url-no-scheme.yaml:7"),
    ("interval-fraction.yaml", "interval-fraction.yaml:4"),
    ("interval-template.yaml", "interval-template.yaml:6"),
    ("missing-key.yaml", "missing-key.yaml:"),
    ("no-kind.yaml", "no-kind.yaml:3"),
    ("not-utf8.yaml", "line 4"),
    ("output-before-run.yaml", "output-before-run.yaml:7"),
    (
        "overlap-without-retire.yaml",
        "overlap-without-retire.yaml:7",
    ),
    ("phase-without-overlap.yaml", "phase-without-overlap.yaml:5"),
    ("retries-negative.yaml", "retries-negative.yaml:4"),
    ("run-not-a-command.yaml", "run-not-a-command.yaml:4"),
    ("secret-in-argv-list.yaml", "secret-in-argv-list.yaml:9"),
    ("secret-in-argv.yaml", "secret-in-argv.yaml:9"),
    ("several-documents.yaml", "several-documents.yaml:3"),
    ("several-type-errors.yaml", "several-type-errors.yaml:16"),
    ("tab-indent.yaml", "tab-indent.yaml:4"),
    ("tcp-host-url.yaml", "tcp-host-url.yaml:5"),
    ("tcp-port.yaml", "tcp-port.yaml:5"),
    ("template-syntax.yaml", "template-syntax.yaml:5"),
    ("template-undefined.yaml", "template-undefined.yaml:5"),
    ("two-kinds.yaml", "two-kinds.yaml:3"),
    (
        "type-and-check-errors.yaml",
        "type-and-check-errors.yaml:14",
    ),
    ("unknown-filter.yaml", "unknown-filter.yaml:5"),
    ("unknown-implies.yaml", "unknown-implies.yaml:7"),
    ("unknown-key.yaml", "unknown-key.yaml:4"),
    ("unknown-needs.yaml", "unknown-needs.yaml:6"),
    ("wrong-type.yaml", "wrong-type.yaml:4"),
    ("zero-bytes.yaml", "zero-bytes.yaml:3"),
    ("zero-timeout.yaml", "zero-timeout.yaml:4"),
];

fn validate_fixture(name: &str) -> common::Run {
    let text = std::fs::read(repo().join("tests/fixtures/invalid").join(name)).expect("fixture");
    let test = Test::new().args(&["validate", name]);
    test.write(name, &text);
    test.run()
}

#[test]
fn every_invalid_fixture_exits_2_naming_file_and_line() {
    let dir = repo().join("tests/fixtures/invalid");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let listed: Vec<&str> = FIXTURES.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        on_disk, listed,
        "every fixture is listed with the position it must report"
    );
    for (name, position) in FIXTURES {
        let run = validate_fixture(name);
        run.expect_code(2);
        assert!(
            run.stderr.contains(position),
            "{name}: expected `{position}` in\n{}",
            run.stderr
        );
        assert!(
            run.stdout.is_empty(),
            "{name}: diagnostics go to stderr only"
        );
    }
}

#[test]
fn invalid_fixture_diagnostics_match_snapshots() {
    for (name, _) in FIXTURES {
        let run = validate_fixture(name);
        insta::assert_snapshot!(format!("validate__{name}"), run.stderr);
    }
}

#[test]
fn unknown_key_suggests_the_closest_key() {
    let run = validate_fixture("unknown-key.yaml");
    assert!(
        run.stderr.contains("did you mean `restart`?"),
        "{}",
        run.stderr
    );
}

#[test]
fn cycle_is_reported_with_its_full_path() {
    let run = validate_fixture("cycle.yaml");
    assert!(
        run.stderr.contains("alpha -> gamma -> beta -> alpha"),
        "{}",
        run.stderr
    );
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let test = Test::new()
        .file(
            "many.yaml",
            "name: many\nsteps:\n  - id: a\n    needs: [nope]\n    restart: [api]\n  - id: a\n    restart: [api]\n  - id: c\n    exec: { run: \"echo {{ vars.missing }}\" }\n",
        )
        .args(&["validate", "many.yaml"]);
    let run = test.run();
    run.expect_code(2);
    for expected in [
        "used twice",
        "needs `nope`",
        "vars.missing",
        "3 problems found",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing `{expected}` in\n{}",
            run.stderr
        );
    }
}

#[test]
fn every_type_error_of_a_file_is_reported_not_only_the_first() {
    let run = validate_fixture("several-type-errors.yaml");
    run.expect_code(2);
    for expected in [
        "several-type-errors.yaml:2",
        "several-type-errors.yaml:5",
        "several-type-errors.yaml:8",
        "several-type-errors.yaml:13",
        "several-type-errors.yaml:14",
        "several-type-errors.yaml:16",
        "6 problems found",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing `{expected}` in\n{}",
            run.stderr
        );
    }
}

#[test]
fn a_file_with_a_type_error_still_gets_its_other_checks() {
    let run = validate_fixture("type-and-check-errors.yaml");
    run.expect_code(2);
    for expected in [
        "`retries` must be a whole number",
        "step `b` needs `nope`",
        "undefined variable `vars.missing`",
        "`status: 2000` is not an HTTP status",
        "4 problems found",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing `{expected}` in\n{}",
            run.stderr
        );
    }
}

#[test]
fn two_runbooks_owning_one_env_name_are_both_named() {
    let owners = repo().join("tests/fixtures/owners");
    let test = Test::new().args(&["validate", "a.yaml", "b.yaml"]);
    for file in ["a.yaml", "b.yaml"] {
        test.write(file, &std::fs::read(owners.join(file)).expect("fixture"));
    }
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("`SHARED_KEY` is owned by two runbooks: `first-owner` and `second-owner`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("b.yaml:2") && run.stderr.contains("a.yaml:2"),
        "{}",
        run.stderr
    );
}

#[test]
fn huge_file_is_refused_quickly_without_reading_it_whole() {
    let test = Test::new().args(&["validate", "huge.yaml"]);
    test.write(
        "huge.yaml",
        format!("name: huge\n{}", "# padding\n".repeat(120_000)).as_bytes(),
    );
    let run = test.run();
    run.expect_code(2);
    assert!(run.stderr.contains("larger than 1 MiB"), "{}", run.stderr);
}

#[test]
fn shipped_library_is_valid() {
    let run = Test::new()
        .with_library()
        .args(&["validate", "runbooks"])
        .run();
    run.expect_code(0);
    assert!(run.stdout.contains("runbooks valid"), "{}", run.stdout);
}

#[test]
fn every_shipped_runbook_starts_with_the_schema_modeline() {
    for entry in std::fs::read_dir(repo().join("runbooks")).expect("runbooks") {
        let path = entry.expect("entry").path();
        // The library's README sits beside the runbooks.
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("runbook");
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/runbook.schema.json\n"),
            "{} lacks the modeline",
            path.display()
        );
    }
}

#[test]
fn a_backoff_of_zero_is_refused_at_its_step() {
    let runbook = "name: flaky\nsteps:\n  - id: flaky\n    retries: 2\n    backoff: 0\n    exec: { run: 'true' }\n";
    let test = Test::new()
        .file("flaky.yaml", runbook)
        .args(&["validate", "flaky.yaml"]);
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("`backoff` is 0") && run.stderr.contains("flaky.yaml:3"),
        "{}",
        run.stderr
    );
}

#[test]
fn templates_may_call_minijinja_global_functions() {
    let run = Test::new()
        .file(
            "globals.yaml",
            "name: globals\nsteps:\n  - id: count\n    exec: { run: \"echo {{ range(3) | join(',') }}\" }\n",
        )
        .args(&["validate", "globals.yaml"])
        .run();
    run.expect_code(0);
}
