//! `manual`: instructions for the operator, acknowledged at the terminal (or by `--yes`), and
//! optionally a value read from them — a hidden prompt, `--input name=@file`, or
//! `RUNBOOK_INPUT_<NAME>`. A secret value is registered with the redactor before any use.

use crate::failure::ErrorKind;
use crate::terminal::read_hidden_line;
use std::collections::BTreeMap;

use super::StepError;
use super::{Done, StepRun};
use crate::events::EventKind;
use crate::model::ManualSpec;

pub(super) async fn run(run: &StepRun, spec: &ManualSpec) -> Result<Done, StepError> {
    let instructions = run.ctx.render(run.rb, &spec.instructions)?;
    let _terminal = run.ctx.terminal.lock().await;
    let Some(input) = &spec.input else {
        acknowledge(run, &instructions).await?;
        return Ok(Done::nothing());
    };
    let value = match run.ctx.supplied.get(&input.name) {
        Some(value) => {
            run.ctx.emitter.emit(EventKind::Operator {
                step: run.name.clone(),
                instructions,
                acknowledged_by: format!("input `{}` supplied", input.name),
            });
            value.clone()
        }
        None if run.ctx.options.interactive => {
            run.ctx.emitter.emit(EventKind::Operator {
                step: run.name.clone(),
                instructions,
                acknowledged_by: "operator".into(),
            });
            let prompt = format!(
                "{} ({}): ",
                input.name,
                if input.secret { "hidden" } else { "visible" }
            );
            let secret = input.secret;
            tokio::task::spawn_blocking(move || read_hidden_line(&prompt, secret))
                .await
                .map_err(|_| StepError::new(ErrorKind::Bug, "the prompt panicked; this is a bug"))?
                .map_err(|e| {
                    StepError::new(
                        ErrorKind::Operator,
                        format!("cannot read from the terminal: {e}"),
                    )
                })?
        }
        None if input.optional => {
            acknowledge(run, &instructions).await?;
            String::new()
        }
        None => {
            return Err(StepError::new(
                ErrorKind::Operator,
                format!(
                    "input `{}` is needed and there is no terminal: pass `--input {}=@FILE` or set {}",
                    input.name,
                    input.name,
                    crate::model::input_variable(&input.name)
                ),
            ));
        }
    };
    if value.is_empty() && !input.optional {
        return Err(StepError::new(
            ErrorKind::Operator,
            format!("input `{}` is empty", input.name),
        ));
    }
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

/// Shows instructions and waits for the operator to confirm they are done; `--yes` confirms.
pub(crate) async fn acknowledge(run: &StepRun, instructions: &str) -> Result<(), StepError> {
    if run.ctx.options.yes {
        run.ctx.emitter.emit(EventKind::Operator {
            step: run.name.clone(),
            instructions: instructions.to_string(),
            acknowledged_by: "--yes".into(),
        });
        return Ok(());
    }
    if !run.ctx.options.interactive {
        return Err(StepError::new(
            ErrorKind::Operator,
            "an operator must confirm this step and there is no terminal (use --yes to confirm)",
        ));
    }
    run.ctx.emitter.emit(EventKind::Operator {
        step: run.name.clone(),
        instructions: instructions.to_string(),
        acknowledged_by: "operator".into(),
    });
    let answer = tokio::task::spawn_blocking(|| {
        read_hidden_line("Type `done` when finished (or `abort`): ", false)
    })
    .await
    .map_err(|_| StepError::new(ErrorKind::Bug, "the prompt panicked; this is a bug"))?
    .map_err(|e| {
        StepError::new(
            ErrorKind::Operator,
            format!("cannot read from the terminal: {e}"),
        )
    })?;
    match answer.trim() {
        "done" | "yes" | "y" => Ok(()),
        _ => Err(StepError::new(
            ErrorKind::Operator,
            "the operator did not confirm the step",
        )),
    }
}
