//! How a run ends once nothing runs: done, waiting for retire or for the operator,
//! interrupted, paused (an incident run), or rolled back. Kept apart from the scheduler's loop,
//! which only decides what starts and takes in what ended.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::compensate::{Completed, compensate};
use super::pause::paused_summary;
use super::scheduler::{Progress, RunResult};
use super::stage::Stage;
use crate::checked::StepKind;
use crate::events::Outcome;
use crate::exit;
use crate::model::Mode;
use crate::plan::{NodeIx, Work};
use crate::steps::context::RunContext;

/// How the run ends once nothing runs: done; interrupted (journaled, for `resume` or
/// `abort`); paused (an incident run); or rolled back.
pub(super) async fn ending(
    ctx: &Arc<RunContext>,
    progress: Progress,
    interrupted: bool,
    stage: Stage,
) -> RunResult {
    let count = ctx.plan.nodes.len();
    let Progress {
        completed,
        failure,
        awaiting,
        gate,
        ..
    } = progress;
    let ended = |outcome, exit_code, summary| RunResult {
        outcome,
        exit_code,
        summary,
        in_effect: completed.iter().map(|c| c.node).collect(),
        stage,
        retire_due: None,
    };
    let waits = !awaiting.is_empty();
    if failure.is_none()
        && !interrupted
        && let Some(summary) = super::rolling::partial_summary(gate.as_ref(), &ctx.run.id, waits)
    {
        // Some hosts failed within `max_fail`: not done, and not as before either. The run
        // stays open so the operator decides: retry the failed hosts, or roll all back.
        return ended(Outcome::NeedsOperator, exit::NEEDS_OPERATOR, summary);
    }
    if failure.is_none() && !interrupted && !awaiting.is_empty() {
        let summary = awaiting_summary(ctx, &awaiting, completed.len());
        return ended(Outcome::AwaitingOperator, exit::NEEDS_OPERATOR, summary);
    }
    if failure.is_none() && !interrupted && stage == Stage::Activate {
        let (summary, due) = super::phases::waiting_summary(ctx);
        return RunResult {
            retire_due: Some(due),
            ..ended(Outcome::WaitingForRetire, exit::DONE, summary)
        };
    }
    if failure.is_none() && !interrupted {
        let summary = if stage == Stage::Retire {
            format!(
                "retire phase done, all {count} steps of the run done: the old value no longer verifies"
            )
        } else {
            format!("all {count} steps done")
        };
        return ended(Outcome::Done, exit::DONE, summary);
    }
    if interrupted {
        // Ctrl-C: what ran stays as it is, journaled (a step killed by a second Ctrl-C is
        // recorded as failed and runs again on resume); the operator chooses resume or abort.
        let summary = format!(
            "interrupted after {} of {count} steps; the run is journaled: `runbook resume {id}` to finish it or `runbook abort {id}` to roll it back",
            completed.len(),
            id = ctx.run.id
        );
        return ended(Outcome::Interrupted, exit::INTERRUPTED, summary);
    }
    let cause = match &failure {
        Some((step, error)) => format!("step `{step}` failed: {error}"),
        None => "interrupted".to_string(),
    } + &super::rolling::over_budget(gate.as_ref());
    if ctx.plan.mode == Mode::Incident {
        let summary = paused_summary(ctx, &completed, &cause);
        return ended(Outcome::Paused, exit::NEEDS_OPERATOR, summary);
    }
    let mut result = rolled_back(ctx, &completed, &cause).await;
    result.stage = stage;
    result
}

/// What an unattended run leaves for the operator: the steps it waits at, and how to go on.
fn awaiting_summary(ctx: &RunContext, awaiting: &[NodeIx], done: usize) -> String {
    let names: Vec<&str> = awaiting
        .iter()
        .map(|n| ctx.plan.node(*n).name.as_str())
        .collect();
    let id = &ctx.run.id;
    // `--done` cannot give a value: a step that needs one is answered at a terminal only.
    let answerable: Vec<&str> = awaiting
        .iter()
        .filter(|n| !needs_a_value(ctx, **n))
        .map(|n| ctx.plan.node(*n).name.as_str())
        .collect();
    let by_flag = if answerable.len() == names.len() {
        let flags: String = answerable.iter().map(|n| format!(" --done {n}")).collect();
        format!(", or `runbook resume {id}{flags}` to say it is done")
    } else {
        String::new()
    };
    format!(
        "{done} of {} steps done; awaiting the operator at {}: do what it asks, then `runbook resume {id}` at a terminal{by_flag}; `runbook abort {id}` rolls the run back",
        ctx.plan.nodes.len(),
        names.join(", ")
    )
}

/// Whether a manual step waits for a value the operator must type (a required input).
fn needs_a_value(ctx: &RunContext, node: NodeIx) -> bool {
    let Work::Step(rb, si) = ctx.plan.node(node).work else {
        return false;
    };
    matches!(
        &ctx.runbook(rb).step(si).kind,
        StepKind::Manual(spec) if spec.input.as_ref().is_some_and(|input| !input.optional)
    )
}

/// Compensates what completed and says how that went.
pub(crate) async fn rolled_back(
    ctx: &Arc<RunContext>,
    completed: &[Completed],
    cause: &str,
) -> RunResult {
    let report = compensate(ctx, completed).await;
    let (outcome, exit_code) = if report.complete {
        (Outcome::RolledBack, exit::FAILED)
    } else {
        (Outcome::NeedsOperator, exit::NEEDS_OPERATOR)
    };
    RunResult {
        outcome,
        exit_code,
        summary: format!("{cause}; {}", report.summary),
        in_effect: BTreeSet::new(),
        stage: Stage::Whole,
        retire_due: None,
    }
}
