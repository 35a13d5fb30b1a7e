//! The operator's answers: a confirmation (`--yes` may give it), a manual action done by a
//! person (never by a flag: a person at the terminal, or `resume --done STEP` naming the step
//! the run waits for), and the undoing of a manual step. An unknown answer asks again; rolling
//! back takes the word `rollback`; with nobody to ask, the step waits for the operator.

use crate::events::EventKind;
use crate::failure::ErrorKind;
use crate::model::Mode;
use crate::terminal::read_hidden_line;

use super::{StepError, StepRun};

/// What the operator may answer, besides going on.
#[derive(Clone, Copy)]
pub(crate) enum Purpose {
    /// A question before a step acts (`confirm:`, the point of no return): `--yes` answers.
    Confirm,
    /// A manual step: only a person can say it is done.
    Action,
    /// Undoing a manual step by hand: only a person can say it is done, and nothing is left
    /// to roll back to.
    Undo,
}

/// What an answer means.
enum Answer {
    Proceed,
    Wait,
    RollBack,
    Unknown,
}

/// Asks the operator about `text` for `purpose`; `Ok` to go on. With nobody to answer, the
/// step waits for the operator ([`ErrorKind::Awaiting`]), so nothing is claimed and nothing
/// undone.
pub(crate) async fn ask(run: &StepRun, text: &str, purpose: Purpose) -> Result<(), StepError> {
    let ctx = &run.ctx;
    if matches!(purpose, Purpose::Confirm) && ctx.options.yes {
        return confirmed(run, text, "--yes");
    }
    if !matches!(purpose, Purpose::Confirm) && ctx.options.done.contains(&run.name) {
        return confirmed(
            run,
            text,
            &format!("{} (`resume --done {}`)", super::operator(), run.name),
        );
    }
    if !ctx.options.interactive {
        return Err(waiting(run, text));
    }
    let incident = ctx.plan.mode == Mode::Incident;
    let (go, what) = match purpose {
        Purpose::Confirm => ("yes", "to go on"),
        Purpose::Action | Purpose::Undo => ("done", "once it is done"),
    };
    let rollback = matches!(purpose, Purpose::Confirm | Purpose::Action) && !incident;
    let choices = if rollback {
        format!(
            "Type `{go}` {what}, `wait` to stop here and resume later, or `rollback` to undo the run: "
        )
    } else {
        format!("Type `{go}` {what}, or `wait` to stop here and resume later: ")
    };
    let shown = ctx.redactor.redact(&format!(
        "\n☞ {} — for the operator:\n{}\n",
        run.name,
        indent(text)
    ));
    let mut prompt = format!("{shown}{choices}");
    loop {
        let line = read_line(prompt.clone()).await;
        let answer = match line.as_deref().map(|l| l.trim().to_ascii_lowercase()) {
            // The terminal closed: nobody can answer, so nothing is claimed.
            Err(_) => Answer::Wait,
            Ok(a) if a == go => Answer::Proceed,
            Ok(a) if a == "wait" => Answer::Wait,
            Ok(a) if a == "rollback" && rollback => Answer::RollBack,
            Ok(_) => Answer::Unknown,
        };
        match answer {
            Answer::Proceed => return confirmed(run, text, &super::operator()),
            Answer::Wait => return Err(waiting(run, text)),
            Answer::RollBack => {
                return Err(StepError::new(
                    ErrorKind::Operator,
                    "the operator chose to roll back",
                ));
            }
            Answer::Unknown => {
                prompt = format!("Unknown answer. {choices}");
            }
        }
    }
}

/// Says what was confirmed and by whom, once it was: the banner never comes first.
fn confirmed(run: &StepRun, text: &str, by: &str) -> Result<(), StepError> {
    run.ctx.emitter.emit(EventKind::Operator {
        step: run.name.clone(),
        instructions: text.to_string(),
        acknowledged_by: by.to_string(),
    });
    Ok(())
}

/// The step stops, awaiting the operator; the instructions go to the log so that whoever
/// reads it knows what is asked.
pub(crate) fn waiting(run: &StepRun, text: &str) -> StepError {
    run.ctx.emitter.emit(EventKind::Warning {
        step: Some(run.name.clone()),
        message: format!("awaiting the operator:\n{}", indent(text)),
    });
    StepError::new(ErrorKind::Awaiting, "awaiting the operator")
}

fn indent(text: &str) -> String {
    text.trim()
        .lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line from the terminal, read off the runtime's thread.
async fn read_line(prompt: String) -> std::io::Result<String> {
    tokio::task::spawn_blocking(move || read_hidden_line(&prompt, false))
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("the prompt panicked; this is a bug")))
}
