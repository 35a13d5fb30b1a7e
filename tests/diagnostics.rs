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
