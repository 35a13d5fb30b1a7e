//! `manual`: instructions for the operator, done by a person (never by `--yes`), and
//! optionally a value read from them — a hidden prompt, `--input name=@file`, or
//! `RUNBOOK_INPUT_<NAME>`. A secret value is registered with the redactor before any use.

use crate::failure::ErrorKind;
use crate::terminal::read_hidden_line;
use std::collections::BTreeMap;

use super::StepError;
use super::ask::{Purpose, ask, waiting};
use super::{Done, StepRun};
use crate::events::EventKind;
use crate::model::{ManualInput, ManualSpec};

/// How many empty answers a required input takes before the step waits for the operator.
const EMPTY_ANSWERS: usize = 3;

pub(super) async fn run(run: &StepRun, spec: &ManualSpec) -> Result<Done, StepError> {
    let instructions = run.render(&spec.instructions)?;
    let _terminal = run.ctx.terminal.lock().await;
    let Some(input) = &spec.input else {
        ask(run, &instructions, Purpose::Action).await?;
        return Ok(Done::nothing());
    };
    let value = match run.ctx.supplied.get(&input.name) {
        Some(value) => {
            acknowledged(
                run,
                &instructions,
                format!("input `{}` supplied", input.name),
            );
            value.clone()
        }
        // The operator said at `resume` that this step is done; an optional value stays empty.
        None if input.optional && run.ctx.options.done.contains(&run.name) => {
            ask(run, &instructions, Purpose::Action).await?;
            String::new()
        }
        None if run.ctx.options.interactive => {
            let value = prompt_value(run, &instructions, input).await?;
            acknowledged(run, &instructions, super::operator());
            value
        }
        None => return Err(waiting(run, &input_hint(&instructions, input))),
    };
    if input.secret {
        run.ctx.redactor.add(&value);
    } else if !value.trim().is_empty() {
        run.ctx.emitter.emit(EventKind::OperatorInput {
            step: run.name.clone(),
            name: input.name.clone(),
            value: value.clone(),
        });
    }
    Ok(Done {
        outputs: crate::template::value_of(BTreeMap::from([("input", value)])),
        compensation: None,
    })
}

fn acknowledged(run: &StepRun, instructions: &str, by: String) {
    run.ctx.emitter.emit(EventKind::Operator {
        step: run.name.clone(),
        instructions: instructions.to_string(),
        acknowledged_by: by,
    });
}

/// The instructions, and how an operator who is not at a terminal gives the value.
fn input_hint(instructions: &str, input: &ManualInput) -> String {
    format!(
        "{instructions}\n(input `{}`: resume at a terminal to type it{})",
        input.name,
        if input.optional {
            ", or `runbook resume RUN --done STEP` to go on without it"
        } else {
            ""
        }
    )
}

/// Shows the instructions and reads the value at the terminal. An empty answer skips an
/// optional input and asks again for a required one; a closed terminal leaves the step
/// waiting for the operator.
async fn prompt_value(
    run: &StepRun,
    instructions: &str,
    input: &ManualInput,
) -> Result<String, StepError> {
    let shown = run.ctx.redactor.redact(&format!(
        "\n☞ {} — for the operator:\n{}\n",
        run.name,
        instructions
            .trim()
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    ));
    let prompt = format!(
        "{} ({}{}): ",
        input.name,
        if input.secret { "hidden" } else { "visible" },
        if input.optional {
            "; Enter to skip"
        } else {
            ""
        }
    );
    let mut shown = Some(shown);
    for _ in 0..EMPTY_ANSWERS {
        let text = format!("{}{prompt}", shown.take().unwrap_or_default());
        let secret = input.secret;
        let read = tokio::task::spawn_blocking(move || read_hidden_line(&text, secret))
            .await
            .map_err(|_| StepError::new(ErrorKind::Bug, "the prompt panicked; this is a bug"))?;
        match read {
            Ok(value) if !value.is_empty() || input.optional => return Ok(value),
            Ok(_) => shown = Some(format!("`{}` cannot be empty. ", input.name)),
            Err(_) => return Err(waiting(run, instructions)),
        }
    }
    Err(waiting(run, instructions))
}

/// Undoing a manual step: a person does it, so only a person says it is done.
pub(crate) async fn undo_by_hand(run: &StepRun, instructions: &str) -> Result<(), StepError> {
    ask(run, instructions, Purpose::Undo).await
}

/// A confirmation before a step acts (`confirm:`, the point of no return): `--yes` answers.
pub(crate) async fn confirm(run: &StepRun, question: &str) -> Result<(), StepError> {
    ask(run, question, Purpose::Confirm).await
}
