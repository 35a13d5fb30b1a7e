//! The command line's conventions: exit codes in `--help` equal to the README's table, help
//! for every argument, completions that offer runbook names and run ids, and `-q`.

mod common;

use common::{Test, repo};

/// The README's exit-code table as `(code, meaning)` rows.
fn readme_exit_codes() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let table = readme
        .split("## Exit codes")
        .nth(1)
        .expect("the README has an exit code section");
    table
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            match cells.as_slice() {
                ["", code, meaning, ""] if code.parse::<u8>().is_ok() => {
                    Some(((*code).to_string(), (*meaning).to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

#[test]
fn help_lists_the_readme_exit_codes() {
    let codes = readme_exit_codes();
    assert_eq!(codes.len(), 6, "{codes:?}");
    for args in [&["--help"][..], &["run", "--help"], &["resume", "--help"]] {
        let run = Test::new().args(args).run();
        run.expect_code(0);
        let help: Vec<String> = run
            .stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        for (code, meaning) in &codes {
            let row = format!("{code} {meaning}");
            assert!(
                help.contains(&row),
                "`runbook {args:?}` lacks `{row}`:\n{}",
                run.stdout
            );
        }
    }
}

#[test]
fn positional_arguments_and_yes_have_help() {
    let run = Test::new().args(&["run", "--help"]).run();
    assert!(
        run.stdout.contains("<RUNBOOK>  The runbook's `name:`"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("--yes  "), "{}", run.stdout);
    // The help column is as wide as the longest flag; only the pairing is asserted.
    assert!(
        run.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("--yes ")
                && l.trim_end().ends_with("without asking,")
                && l.contains("Answer confirmations")),
        "{}",
        run.stdout
    );
    for command in ["resume", "abort"] {
        let run = Test::new().args(&[command, "--help"]).run();
        assert!(
            run.stdout.contains("<RUN_ID>  The run's id"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout
                .lines()
                .any(|l| l.trim_start().starts_with("--yes ")
                    && l.contains("Answer confirmations without asking")),
            "{}",
            run.stdout
        );
    }
}

/// What the completion protocol answers for `runbook <words...>` completing the last word.
fn complete(test: &Test, words: &[&str]) -> Vec<String> {
    let mut command = test.command();
    command
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
        .arg("--")
        .args(words);
    let output = command.output().expect("runbook");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn completion_offers_runbook_names_run_ids_and_secret_ids() {
    let test = Test::new()
        .with_library()
        .file(".runbook/runs/20261201T100000Z-abc123/journal.jsonl", "")
        .file(".runbook/runs/20261201T110000Z-def456/journal.jsonl", "");
    let names = complete(&test, &["runbook", "plan", "jwt"]);
    assert_eq!(names, ["jwt-rotation"]);
    let names = complete(&test, &["runbook", "run", ""]);
    for expected in [
        "compromise",
        "jwt-rotation",
        "session-rotation",
        "user-api-keys",
    ] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    let ids = complete(&test, &["runbook", "resume", ""]);
    assert_eq!(
        &ids[..2],
        ["20261201T110000Z-def456", "20261201T100000Z-abc123"],
        "newest first: {ids:?}"
    );
    let ids = complete(&test, &["runbook", "abort", "20261201T10"]);
    assert_eq!(ids, ["20261201T100000Z-abc123"]);
    let secrets = complete(&test, &["runbook", "run", "compromise", "--secret", "jw"]);
    assert_eq!(secrets, ["jwt"]);
}

#[test]
fn completions_script_asks_runbook_for_candidates() {
    for shell in ["bash", "zsh", "fish"] {
        let run = Test::new().args(&["completions", shell]).run();
        run.expect_code(0);
        assert!(
            run.stdout.contains("COMPLETE=") || run.stdout.contains("COMPLETE "),
            "{shell}: {}",
            run.stdout
        );
        assert!(run.stdout.contains("runbook"), "{shell}: {}", run.stdout);
    }
}

const QUIET_CONFIG: &str = "vars:\n  env_file: .env.prod\nrestart:\n  run: 'true'\n";

fn quiet_project(verify: &str) -> Test {
    let runbook = format!(
        "name: quiet\nsteps:\n  - id: first\n    exec: {{ run: \"echo hello-from-first\" }}\n  - id: check\n    needs: [first]\n    verify:\n      exec: {{ run: \"{verify}\" }}\n"
    );
    Test::new()
        .file("runbook.yaml", QUIET_CONFIG)
        .file("runbooks/quiet.yaml", &runbook)
}

#[test]
fn quiet_run_prints_nothing_when_it_succeeds() {
    let loud = quiet_project("true").args(&["run", "quiet"]).run();
    loud.expect_code(0);
    assert!(loud.stdout.contains("hello-from-first"), "{}", loud.stdout);
    let quiet = quiet_project("true").args(&["run", "quiet", "-q"]).run();
    quiet.expect_code(0);
    assert_eq!(quiet.stdout, "", "-q: nothing on success");
}

#[test]
fn quiet_run_still_prints_the_failure() {
    let run = quiet_project("false").args(&["-q", "run", "quiet"]).run();
    run.expect_code(1);
    assert!(
        run.stdout.contains("check") && run.stdout.contains("rolled back"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("hello-from-first"), "{}", run.stdout);
    assert!(!run.stdout.contains("✓"), "{}", run.stdout);
}

/// The values `--help` offers for `--format`, from clap's `[possible values: ...]`.
fn formats_offered(command: &str) -> Vec<String> {
    let run = Test::new().args(&[command, "--help"]).run();
    run.expect_code(0);
    let help = run.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    let (_, after) = help
        .split_once("--format <FORMAT>")
        .unwrap_or_else(|| panic!("`{command} --help` has --format: {help}"));
    let (_, values) = after.split_once("[possible values: ").unwrap();
    let (values, _) = values.split_once(']').unwrap();
    values.split(", ").map(str::to_string).collect()
}

#[test]
fn each_command_offers_only_the_formats_it_prints() {
    for (command, formats) in [
        ("list", &["text", "json"][..]),
        ("plan", &["text", "json", "dot", "mermaid"]),
        ("run", &["text", "json"]),
        ("status", &["text", "json", "prometheus"]),
        ("history", &["text", "json"]),
        ("graph", &["dot", "mermaid"]),
    ] {
        assert_eq!(formats_offered(command), formats, "`{command} --help`");
    }
    let refused = Test::new()
        .args(&["run", "anything", "--format", "dot"])
        .run();
    refused.expect_code(2);
    assert!(
        refused.stderr.contains("invalid value 'dot'"),
        "{}",
        refused.stderr
    );
}

#[test]
fn bash_sourcing_the_completions_script_completes_runbook_names() {
    let test = Test::new().with_library();
    let bin_dir = common::binary().parent().expect("bin dir").to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // What bash does on <TAB> after `runbook plan jw`: call the registered function.
    let script = "source <(runbook completions bash)\nCOMP_WORDS=(runbook plan jw); COMP_CWORD=2; COMP_TYPE=9\n_clap_complete_runbook runbook jw plan\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n";
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(test.path())
        .env("PATH", path)
        .output()
        .expect("bash");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "jwt-rotation"
    );
}
