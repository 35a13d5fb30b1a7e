//! One node of the plan, attempted: `when`, confirmations, the intent journaled before the
//! side effect, the step run under its retry policy (or the restart driver for a coalesced
//! restart), and its result journaled before anything that needs it starts.

use std::sync::Arc;

use super::arming::needs_durable_intent;
use super::retry::RetryPolicy;
use crate::checked::{Rollback, StepKind};
use crate::checked::{RunbookIx, StepIx};
use crate::events::EventKind;
use crate::failpoint;
use crate::failure::ErrorKind;
use crate::plan::NodeIx;
use crate::plan::Work;
use crate::steps::context::{RunContext, StepError};
use crate::steps::{Compensation, Done, StepRun, confirm, execute, restart_services};

/// The kind a node's events name.
pub(super) fn node_kind(ctx: &RunContext, index: NodeIx) -> String {
    match ctx.plan.node(index).work {
        Work::Step(rb, si) => ctx.runbook(rb).step(si).kind.name().to_string(),
        Work::Restart { .. } => "restart".into(),
    }
}

/// Runs one node and journals its result: `Ok(None)` when skipped by `when`. `armed` is the
/// line of its `armed` record when its intent was journaled ahead (`arming.rs`).
pub(super) async fn run_node(
    ctx: &Arc<RunContext>,
    index: NodeIx,
    armed: Option<u64>,
) -> Result<Option<Done>, StepError> {
    let node = ctx.plan.node(index);
    let result = match &node.work {
        Work::Restart { services, serves } => {
            attempt_restart(ctx, index, services, serves, armed).await?
        }
        Work::Step(rb, si) => attempt_step(ctx, index, *rb, *si, armed).await?,
    };
    let (skipped, outputs, compensation) = match &result {
        Some(done) => (false, Some(&done.outputs), done.compensation.as_ref()),
        None => (true, None, None),
    };
    // New secrets (generated, entered) are always kept: losing one loses a password.
    // Other outputs only when a template reads them; an env step's previous values are in
    // its backup.
    let keep = match node.work {
        Work::Step(rb, si) => {
            matches!(
                ctx.runbook(rb).step(si).kind,
                StepKind::Generate(_) | StepKind::Manual(_)
            ) || ctx.is_referenced(rb, si)
        }
        Work::Restart { .. } => false,
    };
    ctx.durable
        .done(index, &node.name, skipped, outputs, keep, compensation)
        .await?;
    failpoint::hit("after-done", &node.name);
    Ok(result)
}

/// Journals that node `index` is about to act (its `attempt`-th try): durably when it must
/// be (`arming::needs_durable_intent`). A first try that was armed already has its intent
/// journaled, and fsynced while the steps before it ran: it waits for that fsync only if it
/// has not completed yet, then marks the step started.
async fn intent(
    ctx: &RunContext,
    index: NodeIx,
    attempt: u32,
    armed: Option<u64>,
) -> Result<(), StepError> {
    let node = ctx.plan.node(index);
    failpoint::hit("before-intent", &node.name);
    match armed.filter(|_| attempt == 1) {
        Some(line) => ctx.durable.start_armed(index, line).await?,
        None => {
            let durable = needs_durable_intent(ctx, index);
            ctx.durable
                .intent(index, &node.name, attempt, durable)
                .await?
        }
    }
    failpoint::hit("after-intent", &node.name);
    Ok(())
}

/// A coalesced restart. It serves steps whose `when` may be false: only the services of the
/// steps that still want a restart are restarted.
async fn attempt_restart(
    ctx: &Arc<RunContext>,
    index: NodeIx,
    services: &[String],
    serves: &[(RunbookIx, StepIx)],
    armed: Option<u64>,
) -> Result<Option<Done>, StepError> {
    let node = ctx.plan.node(index);
    let (rb, si) = serves[0];
    let run = StepRun::new(ctx, index, rb, si);
    ctx.emitter.emit(EventKind::StepStarted {
        step: node.name.clone(),
        kind: node_kind(ctx, index),
        attempt: 1,
    });
    let mut wanted: Vec<String> = Vec::new();
    for (rb, si) in serves {
        let step = ctx.runbook(*rb).step(*si);
        if let Some(when) = &step.when
            && !ctx.eval_on(*rb, node.host.as_deref(), &when.value, None)?
        {
            continue;
        }
        let StepKind::Restart(own) = &step.kind else {
            continue;
        };
        let listed = crate::plan::restart_services(
            &ctx.project,
            ctx.runbook(*rb),
            own,
            node.host.as_deref(),
        );
        for service in listed {
            if services.contains(&service) && !wanted.contains(&service) {
                wanted.push(service);
            }
        }
    }
    if wanted.is_empty() {
        return Ok(None);
    }
    let services: Vec<String> = services
        .iter()
        .filter(|s| wanted.contains(s))
        .cloned()
        .collect();
    intent(ctx, index, 1, armed).await?;
    restart_services(&run, &services).await?;
    failpoint::hit("after-effect", &node.name);
    Ok(Some(Done {
        outputs: minijinja::Value::from(()),
        compensation: Some(Compensation::RestartAgain { services }),
    }))
}

/// A step: skipped when its `when` is false, confirmed when it asks, then tried.
async fn attempt_step(
    ctx: &Arc<RunContext>,
    index: NodeIx,
    rb: RunbookIx,
    si: StepIx,
    armed: Option<u64>,
) -> Result<Option<Done>, StepError> {
    let run = StepRun::new(ctx, index, rb, si);
    let step = run.step();
    if let Some(when) = &step.when
        && !run.eval(&when.value, None)?
    {
        return Ok(None);
    }
    if let Some(question) = &step.confirm {
        let question = run.render(question)?;
        let _terminal = ctx.terminal.lock().await;
        confirm(&run, &question).await?;
    }
    if step.irreversible {
        let _terminal = ctx.terminal.lock().await;
        confirm(&run, "This step is the point of no return: after it, a failure can no longer be rolled back completely.").await?;
    }
    let mut done = tries(&run, armed).await?;
    if matches!(step.rollback, Some(Rollback::None)) {
        done.compensation = None;
    }
    Ok(Some(done))
}

/// Tries a step under its retry policy: a retryable failure is tried again after the pause,
/// which a second Ctrl-C ends with no new try (and no new intent).
async fn tries(run: &StepRun, armed: Option<u64>) -> Result<Done, StepError> {
    let ctx = &run.ctx;
    let policy = RetryPolicy::of(run.step(), |text| run.render(text))?;
    let kind = node_kind(ctx, run.node);
    let mut cancel = ctx.cancel.clone();
    let mut attempt = 1;
    loop {
        ctx.emitter.emit(EventKind::StepStarted {
            step: run.name.clone(),
            kind: kind.clone(),
            attempt,
        });
        intent(ctx, run.node, attempt, armed).await?;
        let error = match execute(run).await {
            Ok(done) => return Ok(done),
            Err(error)
                if error.is_retryable() && policy.allows_after(attempt) && !*cancel.borrow() =>
            {
                error
            }
            Err(error) if attempt > 1 => {
                return Err(error.note(&format!("after {attempt} tries")));
            }
            Err(error) => return Err(error),
        };
        ctx.emitter.emit(EventKind::StepRetry {
            step: run.name.clone(),
            attempt,
            error: error.message().to_string(),
            error_kind: Some(error.kind()),
        });
        if policy.wait_after(attempt, &mut cancel).await.is_err() {
            return Err(StepError::new(
                ErrorKind::Cancelled,
                format!(
                    "interrupted before try {} (try {attempt} failed: {})",
                    attempt + 1,
                    error.message()
                ),
            ));
        }
        attempt += 1;
    }
}
