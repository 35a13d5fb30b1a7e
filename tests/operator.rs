//! What only a person can do: a manual step is never confirmed by `--yes`; with nobody at a
//! terminal the run stops awaiting the operator, `resume --done STEP` answers only the step it
//! awaits, and the audit log never says "rotated" while the old credential may be live. At a
//! terminal (a real pseudo-terminal, through util-linux `script`) the prompt asks again on an
//! unknown answer, rolls back only on the word `rollback`, and says "confirmed" only after.

mod common;

use common::Test;
use common::operator::{Terminal, awaited};

const ROTATION: &str = "name: token-rotation\nsecret: { id: token, env: [TOKEN], file: app.env, every: 90d, impact: none }\nsteps:\n  - id: new\n    generate: { bytes: 16, encoding: hex }\n  - id: write\n    needs: [new]\n    env: { file: app.env, set: { TOKEN: \"{{ steps.new.value }}\" } }\n  - id: revoke\n    needs: [write]\n    manual: { instructions: Revoke the OLD token in the provider's console }\n";

const OLD: &str = "TOKEN=old-token-0123456789abcdef\n";

fn project() -> Test {
    Test::new()
        .file("runbooks/token.yaml", ROTATION)
        .file("app.env", OLD)
}

fn history(test: &Test) -> String {
    test.run_args(&["history"]).stdout
}

#[test]
fn yes_never_confirms_a_manual_step_the_run_awaits_the_operator_and_resume_done_finishes_it() {
    let test = project().args(&["run", "token-rotation", "--yes"]);
    let run = test.run();
    run.expect_code(3);
    assert!(!run.stdout.contains("confirmed by --yes"), "{}", run.stdout);
    assert!(
        run.stdout.contains("AWAITING THE OPERATOR"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Revoke the OLD token"),
        "the log says what is asked:\n{}",
        run.stdout
    );
    let (id, steps) = awaited(&run.stdout).expect("the summary names the step");
    assert_eq!(steps, ["token-rotation/revoke"]);
    let journal = std::fs::read_to_string(
        test.path()
            .join(format!(".runbook/runs/{id}/journal.jsonl")),
    )
    .unwrap();
    assert!(journal.contains("\"record\":\"awaiting\""), "{journal}");
    assert!(journal.contains("token-rotation/revoke"), "{journal}");
    assert_ne!(
        test.read("app.env"),
        OLD.as_bytes(),
        "the new token is written"
    );
    let log = history(&test);
    assert!(log.contains("awaiting_operator"), "{log}");
    let status = test.run_args(&["status"]).stdout;
    assert!(
        status.contains(&format!(
            "run {id} (token-rotation) is awaiting the operator at `token-rotation/revoke`"
        )),
        "status names the step the run awaits:\n{status}"
    );
    assert!(
        !log.contains("rotated"),
        "not rotated while the old token may be live:\n{log}"
    );
    // The lock is free and the run blocks no one silently: a new run is told to finish it.
    let again = test.run_args(&["run", "token-rotation", "--yes"]);
    again.expect_code(4);
    assert!(
        again.stderr.contains(&format!("runbook resume {id}")),
        "{}",
        again.stderr
    );

    // `--done` answers only the step the run awaits.
    let wrong = test.run_args(&["resume", &id, "--done", "write"]);
    wrong.expect_code(2);
    assert!(
        wrong.stderr.contains("is not awaiting `write`"),
        "{}",
        wrong.stderr
    );
    let done = test.run_args(&["resume", &id, "--done", "revoke"]);
    done.expect_code(0);
    assert!(
        done.stdout
            .contains("(`resume --done token-rotation/revoke`)"),
        "{}",
        done.stdout
    );
    let log = history(&test);
    assert!(log.contains("rotated"), "{log}");
    let status = test.run_args(&["status"]).stdout;
    assert!(!status.contains("awaiting"), "{status}");
}

#[test]
fn a_dry_run_needs_no_yes_and_never_prompts() {
    let test = Test::new()
        .file(
            "runbooks/token.yaml",
            &ROTATION.replace(
                "    manual:",
                "    irreversible: true\n    confirm: Really?\n    manual:",
            ),
        )
        .file("app.env", OLD)
        .args(&["run", "token-rotation", "--dry-run"]);
    let run = test.run();
    run.expect_code(0);
    assert_eq!(test.read("app.env"), OLD.as_bytes());
}

#[test]
fn at_a_terminal_an_unknown_answer_asks_again_and_done_is_confirmed_after_it_is_typed() {
    let test = project();
    let mut terminal = Terminal::spawn(test.path(), &["run", "token-rotation", "--yes"]);
    let choices = "Type `done` once it is done";
    terminal.wait_for(choices, 1);
    assert!(
        !terminal.shown().contains("confirmed by"),
        "{}",
        terminal.shown()
    );
    terminal.type_line("");
    terminal.wait_for(choices, 2);
    terminal.type_line("dnoe");
    terminal.wait_for(choices, 3);
    assert_eq!(terminal.shown().matches("Unknown answer").count(), 2);
    assert!(
        !terminal.shown().contains("confirmed by"),
        "{}",
        terminal.shown()
    );
    terminal.type_line("done");
    let (code, shown) = terminal.finish();
    assert_eq!(code, 0, "{shown}");
    let banner = shown.find("confirmed by").expect("a banner");
    assert!(banner > shown.rfind("dnoe").unwrap(), "{shown}");
    assert_ne!(test.read("app.env"), OLD.as_bytes());
}

#[test]
fn at_a_terminal_only_the_word_rollback_rolls_back() {
    let test = project();
    let mut terminal = Terminal::spawn(test.path(), &["run", "token-rotation", "--yes"]);
    let choices = "`rollback` to undo the run";
    terminal.wait_for(choices, 1);
    terminal.type_line("no");
    terminal.wait_for(choices, 2);
    terminal.type_line("rollback");
    let (code, shown) = terminal.finish();
    assert_eq!(code, 1, "{shown}");
    assert_eq!(
        test.read("app.env"),
        OLD.as_bytes(),
        "rolled back:\n{shown}"
    );
}

#[test]
fn at_a_terminal_wait_stops_the_run_awaiting_the_operator() {
    let test = project();
    let mut terminal = Terminal::spawn(test.path(), &["run", "token-rotation", "--yes"]);
    terminal.wait_for("`wait` to stop here", 1);
    terminal.type_line("wait");
    let (code, shown) = terminal.finish();
    assert_eq!(code, 3, "{shown}");
    assert!(awaited(&shown).is_some(), "{shown}");
    assert_ne!(test.read("app.env"), OLD.as_bytes(), "nothing undone");
}

#[test]
fn at_a_terminal_run_shows_the_plan_summary_and_acts_only_after_yes() {
    let test = project();
    let mut terminal = Terminal::spawn(test.path(), &["run", "token-rotation"]);
    terminal.wait_for("Proceed?", 1);
    let shown = terminal.shown();
    for line in [
        "secrets rotated:    token",
        "manual steps:       token-rotation/revoke",
        "point of no return: none",
    ] {
        assert!(shown.contains(line), "{line}:\n{shown}");
    }
    assert_eq!(
        test.read("app.env"),
        OLD.as_bytes(),
        "nothing acts before the answer"
    );
    terminal.type_line("maybe");
    terminal.wait_for("Unknown answer", 1);
    terminal.type_line("no");
    let (code, shown) = terminal.finish();
    assert_eq!(code, 2, "{shown}");
    assert!(shown.contains("cancelled by the operator"), "{shown}");
    assert_eq!(test.read("app.env"), OLD.as_bytes());
    assert!(
        !test.path().join(".runbook/runs").exists()
            || std::fs::read_dir(test.path().join(".runbook/runs"))
                .unwrap()
                .next()
                .is_none()
    );

    let mut terminal = Terminal::spawn(test.path(), &["run", "token-rotation"]);
    terminal.wait_for("Proceed?", 1);
    terminal.type_line("yes");
    terminal.wait_for("Type `done` once it is done", 1);
    terminal.type_line("done");
    let (code, shown) = terminal.finish();
    assert_eq!(code, 0, "{shown}");
    assert_ne!(test.read("app.env"), OLD.as_bytes());
}

#[test]
fn off_a_terminal_run_without_yes_is_refused_saying_how_to_run_unattended() {
    let test = project().without_yes().args(&["run", "token-rotation"]);
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("pass `--yes` to run unattended"),
        "{}",
        run.stderr
    );
    assert_eq!(test.read("app.env"), OLD.as_bytes());
    assert!(!test.path().join(".runbook/runs").exists());
}

/// A playbook whose rotation completed before it stopped at a manual step logs that rotation
/// when it stops; resuming it to the end must not log the same rotation a second time.
#[test]
fn a_rotation_is_logged_once_when_its_playbook_resumes_past_a_manual_step() {
    let rotation = "name: plain-rotation\nsecret: { id: plain, env: [PLAIN], file: app.env, every: 90d, impact: none }\nsteps:\n  - id: new\n    generate: { bytes: 16, encoding: hex }\n  - id: write\n    needs: [new]\n    env: { file: app.env, set: { PLAIN: \"{{ steps.new.value }}\" } }\n";
    let playbook = "name: playbook\nsteps:\n  - id: rotate\n    rotate: { secret: plain }\n  - id: notify\n    needs: [rotate]\n    manual: { instructions: Tell the users }\n";
    let test = Test::new()
        .file("runbooks/plain.yaml", rotation)
        .file("runbooks/playbook.yaml", playbook)
        .file("app.env", "PLAIN=old-plain-0123456789abcdef\n")
        .args(&["run", "playbook", "--yes"]);
    let run = test.run();
    run.expect_code(3);
    let (id, _) = awaited(&run.stdout).expect("the summary names the step");
    test.run_args(&["resume", &id, "--done", "notify"])
        .expect_code(0);
    let log = history(&test);
    let rotated = log
        .lines()
        .filter(|l| l.contains(" plain ") && l.contains("rotated"))
        .count();
    assert_eq!(rotated, 1, "one rotation, one line:\n{log}");
}
