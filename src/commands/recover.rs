//! `runbook resume RUN_ID` and `runbook abort RUN_ID`: an interrupted run read back from its
//! journal (`reopen.rs`), then finished or rolled back — in either phase of a run with an
//! overlap: an interrupted retire phase is finished, or rolled back to waiting for retire. A
//! step that started but never recorded a result is checked, not blindly re-run.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::reopen::{Purpose as Reopen, Reopened, reopen};
use super::{Failure, Global, Outcome};
use crate::diagnostic::Problem;
use crate::events::EventKind;
use crate::exec::doubt::{Purpose, compensation_of, counts_as_done};
use crate::exec::{Completed, RunResult, rolled_back};
use crate::exit;
use crate::journal::Record;
use crate::model::Mode;
use crate::redact::Redactor;
use crate::steps::context::RunContext;
use crate::terminal::read_hidden_line;

/// Asks the operator about a step nobody can judge; without a terminal, the run stops here.
fn ask_operator(ctx: &RunContext, message: &str) -> Result<bool, Failure> {
    if !ctx.options.interactive {
        return Err(Failure::Exit(
            exit::NEEDS_OPERATOR,
            format!(
                "{message}. Check by hand whether it took effect, then run this again at a terminal to answer"
            ),
        ));
    }
    let answer = read_hidden_line(
        &format!("{message}.\nDid it take effect? [yes/no]: "),
        false,
    )
    .map_err(|e| {
        Failure::Exit(
            exit::NEEDS_OPERATOR,
            format!("cannot read from the terminal: {e}"),
        )
    })?;
    Ok(matches!(answer.trim(), "yes" | "y"))
}

pub(super) fn resume(
    global: &Global,
    run_id: &str,
    yes: bool,
    done: &[String],
    redactor: &Redactor,
) -> Outcome {
    let Reopened {
        session,
        recovered,
        mut start,
        ..
    } = reopen(global, run_id, yes, done, redactor, Reopen::Resume)?;
    let ctx = Arc::clone(&session.ctx);
    if !recovered.undone.is_empty() {
        return Err(Failure::Problems(vec![Problem::new(
            "runbook::recover::state",
            format!(
                "run `{run_id}` was being rolled back; finish that with `runbook abort {run_id}`"
            ),
        )]));
    }
    ctx.durable.journal.record(&Record::Note {
        text: "resume".into(),
        detail: BTreeMap::new(),
    });
    for &node in &recovered.in_doubt {
        let judged = session.block_on(counts_as_done(&ctx, &recovered, node, Purpose::Resume));
        if judged.or_else(|message| ask_operator(&ctx, &message))? {
            let compensation = compensation_of(&ctx, &recovered, node);
            let name = ctx.plan.node(node).name.clone();
            session
                .block_on(
                    ctx.durable
                        .done(node, &name, false, None, false, compensation.as_ref()),
                )
                .map_err(|e| Failure::Exit(exit::NEEDS_OPERATOR, e.to_string()))?;
            start.completed.push(Completed { node, compensation });
        }
    }
    ctx.emitter.emit(EventKind::Warning {
        step: None,
        message: format!(
            "resuming run {run_id}: {} of {} steps already done",
            start.completed.len() + start.skipped.len() + start.settled.len(),
            ctx.plan.nodes.len()
        ),
    });
    Ok(session.execute(start))
}

pub(super) fn abort(global: &Global, run_id: &str, yes: bool, redactor: &Redactor) -> Outcome {
    let Reopened {
        session,
        recovered,
        start,
        ..
    } = reopen(global, run_id, yes, &[], redactor, Reopen::Abort)?;
    let ctx = Arc::clone(&session.ctx);
    ctx.durable.journal.record(&Record::Note {
        text: "abort".into(),
        detail: BTreeMap::new(),
    });
    let mut completed: Vec<Completed> = recovered.completed.clone();
    for &node in &recovered.in_doubt {
        let judged = session.block_on(counts_as_done(&ctx, &recovered, node, Purpose::Abort));
        if judged.or_else(|message| ask_operator(&ctx, &message))? {
            completed.push(Completed {
                node,
                compensation: compensation_of(&ctx, &recovered, node),
            });
        }
    }
    completed.retain(|c| !recovered.undone.contains(&c.node));
    let cause = format!("run {run_id} aborted");
    let result = if ctx.plan.mode == Mode::Incident {
        // An incident run never puts a compromised value back.
        RunResult {
            outcome: crate::events::Outcome::RolledBack,
            exit_code: exit::DONE,
            summary: format!(
                "{cause}; incident run: nothing was restored (compromised values are never put back)"
            ),
            in_effect: completed.iter().map(|c| c.node).collect(),
            stage: start.stage,
            retire_due: None,
        }
    } else {
        let mut result = session.block_on(rolled_back(&ctx, &completed, &cause));
        result.stage = start.stage;
        if result.exit_code == exit::FAILED {
            result.exit_code = exit::DONE;
            // Abort restores and restarts but runs no verify: it says what it did, not that
            // the services are healthy.
            result.summary = result.summary.replace(
                crate::exec::AS_BEFORE,
                "; the services' health was not checked (abort runs no verify step)",
            );
        }
        result
    };
    Ok(session.end_abort(&result))
}
