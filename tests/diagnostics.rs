//! Diagnostics that keep their promise: a dangling link says what it is, long lines never
//! split a runbook name or a path, and one broken runbook does not block the commands that
//! do not need it.

mod common;

use common::Test;

#[test]
fn dangling_symlink_in_the_runbooks_directory_is_named_not_skipped() {
    let test = Test::new().args(&["validate"]);
    std::fs::create_dir_all(test.path().join("runbooks")).unwrap();
    std::os::unix::fs::symlink("../gone.yaml", test.path().join("runbooks/jwt.yaml")).unwrap();
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("jwt.yaml` is a symbolic link to `../gone.yaml`, which does")
            && run.stderr.contains("not exist"),
        "{}",
        run.stderr
    );
}

#[test]
fn dangling_symlink_named_on_the_command_line_says_so() {
    let test = Test::new().args(&["validate", "link.yaml"]);
    std::os::unix::fs::symlink("nowhere.yaml", test.path().join("link.yaml")).unwrap();
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("`link.yaml` is a symbolic link to `nowhere.yaml`, which does not exist"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("canonicalize"), "{}", run.stderr);
}

#[test]
fn long_lines_never_split_a_step_id_at_a_hyphen() {
    let id = "rotate-the-extremely-long-named-signing-key-of-the-whole-fleet-at-once-and-then-restart-every-service-too";
    let runbook = format!(
        "name: wrapping-check\nsteps:\n  - id: {id}\n    exec: {{ run: \"echo {{{{ run.id | base32 }}}}\" }}\n"
    );
    let run = Test::new()
        .file("wrap.yaml", &runbook)
        .args(&["validate", "wrap.yaml"])
        .run();
    run.expect_code(2);
    assert!(
        run.stderr.lines().any(|l| l.contains(&format!("`{id}`"))),
        "the step id is split across lines:\n{}",
        run.stderr
    );
}

#[test]
fn long_lines_never_split_a_path_at_a_hyphen_or_slash() {
    let target = "a-directory-with-a-rather-long-hyphenated-name/and-another-hyphenated-level/missing-target-with-hyphens.yaml";
    let test = Test::new().args(&["validate", "dangling-link-with-a-long-hyphenated-name.yaml"]);
    std::os::unix::fs::symlink(
        target,
        test.path()
            .join("dangling-link-with-a-long-hyphenated-name.yaml"),
    )
    .unwrap();
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains(&format!("`{target}`"))),
        "the path is split across lines:\n{}",
        run.stderr
    );
}

/// A runbook whose `retries` is not a number: it cannot load.
const BROKEN: &str = "name: broken-one\nsteps:\n  - id: a\n    retries: many\n    restart: [api]\n";

/// A project with a runnable runbook, `hello`, that marks its run, and one broken file.
fn project_with_a_broken_runbook(broken: &str) -> Test {
    Test::new()
        .file("runbook.yaml", "restart:\n  run: 'true'\n")
        .file(
            "runbooks/hello.yaml",
            "name: hello\nsteps:\n  - id: mark\n    exec: { run: \"touch ran\" }\n",
        )
        .file("runbooks/broken.yaml", broken)
}

#[test]
fn one_broken_runbook_does_not_block_list_status_and_history() {
    let mut test = project_with_a_broken_runbook(BROKEN).with_library();
    for command in ["list", "status", "history"] {
        test = test.args(&[command]);
        let run = test.run();
        run.expect_code(0);
        if command != "history" {
            assert!(run.stdout.contains("jwt"), "{command}: {}", run.stdout);
            assert!(
                run.stderr.contains("warning: skipped") && run.stderr.contains("broken.yaml"),
                "{command} warns about the file it skipped: {}",
                run.stderr
            );
        }
    }
}

#[test]
fn history_works_without_a_runbooks_directory() {
    let run = Test::new().args(&["history"]).run();
    run.expect_code(0);
    assert!(run.stdout.starts_with("ENDED"), "{}", run.stdout);
}

#[test]
fn a_run_the_broken_runbook_has_no_part_in_goes_on_with_a_warning() {
    let test = project_with_a_broken_runbook(BROKEN).args(&["run", "hello", "--yes"]);
    let run = test.run();
    run.expect_code(0);
    assert!(test.path().join("ran").exists(), "the run ran");
    assert!(run.stderr.contains("broken.yaml"), "{}", run.stderr);
}

#[test]
fn asking_for_the_broken_runbook_shows_its_problems() {
    let run = project_with_a_broken_runbook(BROKEN)
        .args(&["plan", "broken-one"])
        .run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("`retries` must be a whole number"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("no runbook is named"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_broken_runbook_owning_a_secret_of_the_plan_refuses_the_run() {
    // It claims JWT_SECRET too: which runbook owns it cannot be known while it is broken.
    let broken = "name: jwt-copy\nsecret: { id: jwt-copy, env: [JWT_SECRET], every: 90d, impact: x }\nsteps:\n  - id: a\n    retries: many\n    restart: [api]\n";
    let test = project_with_a_broken_runbook(broken)
        .file(
            "runbooks/jwt.yaml",
            "name: jwt-rotation\nsecret: { id: jwt, env: [JWT_SECRET], every: 90d, impact: x }\nsteps:\n  - id: mark\n    exec: { run: \"touch ran\" }\n",
        )
        .args(&["run", "jwt-rotation", "--yes"]);
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("`retries` must be a whole number"),
        "{}",
        run.stderr
    );
    assert!(!test.path().join("ran").exists(), "nothing ran");
    // The unrelated runbook still runs.
    let test = test.args(&["run", "hello", "--yes"]);
    test.run().expect_code(0);
    assert!(test.path().join("ran").exists());
}

#[test]
fn a_file_that_is_not_even_yaml_refuses_every_run() {
    // Nothing can be read from it, so it may own anything.
    let test = project_with_a_broken_runbook("name: [unclosed\n").args(&["run", "hello", "--yes"]);
    let run = test.run();
    run.expect_code(2);
    assert!(!test.path().join("ran").exists(), "nothing ran");
    let run = test.args(&["list"]).run();
    run.expect_code(0);
    assert!(run.stdout.contains("hello"), "{}", run.stdout);
}

#[test]
fn a_dangling_config_link_is_an_error_not_the_defaults() {
    let test = Test::new()
        .file(
            "runbooks/hello.yaml",
            "name: hello\nsteps:\n  - id: mark\n    exec: { run: \"touch ran\" }\n",
        )
        .args(&["run", "hello", "--yes"]);
    std::os::unix::fs::symlink("deploy/runbook.yaml", test.path().join("runbook.yaml")).unwrap();
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("`runbook.yaml` is a symbolic link to `deploy/runbook.yaml`"),
        "{}",
        run.stderr
    );
    assert!(
        !test.path().join("ran").exists(),
        "nothing ran on the built-in defaults"
    );
}

#[test]
fn a_secret_implied_by_a_runbook_whose_owner_is_broken_blocks_only_the_runs_that_rotate_it() {
    let jwt = "name: jwt-rotation\nsecret: { id: jwt, env: [JWT_SECRET], every: 90d, impact: x, implies: [session] }\nsteps:\n  - id: mark\n    exec: { run: \"touch ran-jwt\" }\n";
    let session = "name: session-rotation\nsecret: { id: session, env: [SESSION_SECRET], every: 90d, impact: x }\nsteps:\n  - id: a\n    retries: many\n    restart: [api]\n";
    let compromise =
        "name: compromise\nmode: incident\nsteps:\n  - id: rotate\n    rotate: { implied: true }\n";
    let test = project_with_a_broken_runbook(session)
        .file("runbooks/jwt.yaml", jwt)
        .file("runbooks/compromise.yaml", compromise);
    // validate names the broken file, not "no runbook owns `session`".
    let test = test.args(&["validate"]);
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("`retries` must be a whole number"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("which no runbook owns"),
        "{}",
        run.stderr
    );
    // A routine JWT rotation does not rotate `session`: it runs.
    let test = test.args(&["run", "jwt-rotation", "--yes"]);
    test.run().expect_code(0);
    assert!(test.path().join("ran-jwt").exists());
    std::fs::remove_file(test.path().join("ran-jwt")).unwrap();
    // A compromise of `jwt` rotates `session` too: refused, with the broken file's problem.
    let test = test.args(&["plan", "compromise", "--secret", "jwt"]);
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("`retries` must be a whole number"),
        "{}",
        run.stderr
    );
}
