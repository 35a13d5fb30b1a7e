//! The scheduler: a ready set from the plan's `needs`, at most `jobs` steps at once, `when`
//! and retries, each step's intent journaled before it runs and its result before anything
//! that needs it starts; on failure (or interrupt), the compensation of what completed.

use crate::failure::ErrorKind;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

pub use super::compensate::Completed;
use super::compensate::compensate;
use super::context::{RunContext, StepError};
use super::events::{EventKind, Outcome, StepStatus, duration_ms};
use super::pause::paused_summary;
use super::retry::RetryPolicy;
use crate::exit;
use crate::failpoint;
use crate::journal::Record;
use crate::model::{KindRef, Mode, Rollback};
use crate::plan::Work;
use crate::steps::{Compensation, Done, StepRun, acknowledge, execute, restart_services};

/// How a run ended, for the exit code and the last line.
#[derive(Debug)]
pub struct RunResult {
    pub outcome: Outcome,
    pub exit_code: u8,
    pub summary: String,
    /// Plan nodes whose effect is in place when the run stops (none after a rollback).
    pub in_effect: BTreeSet<usize>,
}

/// Where a run starts from: nothing for a new run; what the journal says for `resume`.
#[derive(Default)]
pub struct StartState {
    /// Completed steps in order of completion, with how to undo them.
    pub completed: Vec<Completed>,
    /// Steps that `when` skipped.
    pub skipped: Vec<usize>,
}

type Finished = (usize, Duration, Result<Option<Done>, StepError>);

/// Runs every node of the plan. `stop` is set by the first Ctrl-C: no new step starts.
pub async fn execute_plan(
    ctx: Arc<RunContext>,
    stop: Arc<AtomicBool>,
    start: StartState,
) -> RunResult {
    let plan = Arc::clone(&ctx.plan);
    let count = plan.nodes.len();
    let mut waiting: Vec<usize> = plan.nodes.iter().map(|n| n.needs.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (index, node) in plan.nodes.iter().enumerate() {
        for need in &node.needs {
            dependents[*need].push(index);
        }
    }
    let mut finished_before: BTreeSet<usize> = start.skipped.iter().copied().collect();
    finished_before.extend(start.completed.iter().map(|c| c.node));
    for &index in &finished_before {
        for dependent in &dependents[index] {
            waiting[*dependent] -= 1;
        }
    }
    let mut ready: BTreeSet<usize> = (0..count)
        .filter(|i| waiting[*i] == 0 && !finished_before.contains(i))
        .collect();
    let mut running: JoinSet<Finished> = JoinSet::new();
    let mut completed = start.completed;
    let mut failure: Option<(String, StepError)> = None;
    loop {
        while failure.is_none()
            && !stop.load(Ordering::SeqCst)
            && running.len() < ctx.options.jobs.max(1)
        {
            let Some(next) = ready.pop_first() else { break };
            let ctx = Arc::clone(&ctx);
            running.spawn(async move {
                let started = Instant::now();
                let result = run_node(&ctx, next).await;
                (next, started.elapsed(), result)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (index, elapsed, result) = match joined {
            Ok(value) => value,
            Err(e) => {
                // A panicking step is a bug; treat it as a failure so the run still compensates.
                failure.get_or_insert((
                    "a step".into(),
                    StepError::new(
                        ErrorKind::Bug,
                        format!("a step panicked: {e}; this is a bug"),
                    ),
                ));
                continue;
            }
        };
        let node = &plan.nodes[index];
        let kind = node_kind(&ctx, index);
        match result {
            Ok(done) => {
                let status = if done.is_some() {
                    StepStatus::Done
                } else {
                    StepStatus::Skipped
                };
                ctx.emitter.emit(EventKind::StepFinished {
                    step: node.name.clone(),
                    kind,
                    status,
                    duration_ms: duration_ms(elapsed),
                    error: None,
                    error_kind: None,
                });
                if let Some(done) = done {
                    if let Work::Step(rb, si) = node.work {
                        ctx.set_outputs(rb, &ctx.runbook(rb).steps[si].id.value, done.outputs);
                    }
                    completed.push(Completed {
                        node: index,
                        compensation: done.compensation,
                    });
                }
                for dependent in &dependents[index] {
                    waiting[*dependent] -= 1;
                    if waiting[*dependent] == 0 {
                        ready.insert(*dependent);
                    }
                }
            }
            Err(error) => {
                ctx.durable.journal.record(&Record::Failed {
                    node: index,
                    name: node.name.clone(),
                    error: error.message().to_string(),
                    error_kind: Some(error.kind()),
                });
                ctx.emitter.emit(EventKind::StepFinished {
                    step: node.name.clone(),
                    kind,
                    status: StepStatus::Failed,
                    duration_ms: duration_ms(elapsed),
                    error: Some(error.message().to_string()),
                    error_kind: Some(error.kind()),
                });
                failure.get_or_insert((node.name.clone(), error));
            }
        }
    }
    let interrupted = stop.load(Ordering::SeqCst);
    let in_effect: BTreeSet<usize> = completed.iter().map(|c| c.node).collect();
    if failure.is_none() && !interrupted {
        return RunResult {
            outcome: Outcome::Done,
            exit_code: exit::DONE,
            summary: format!("all {count} steps done"),
            in_effect,
        };
    }
    if interrupted {
        // Ctrl-C: what ran stays as it is, journaled (a step killed by a second Ctrl-C is
        // recorded as failed and runs again on resume); the operator chooses resume or abort.
        return RunResult {
            outcome: Outcome::Interrupted,
            exit_code: exit::INTERRUPTED,
            summary: format!(
                "interrupted after {} of {count} steps; the run is journaled: `runbook resume {id}` to finish it or `runbook abort {id}` to roll it back",
                completed.len(),
                id = ctx.run.id
            ),
            in_effect,
        };
    }
    let cause = match &failure {
        Some((step, error)) => format!("step `{step}` failed: {error}"),
        None => "interrupted".to_string(),
    };
    if ctx.plan.mode == Mode::Incident {
        return RunResult {
            outcome: Outcome::Paused,
            exit_code: exit::NEEDS_OPERATOR,
            summary: paused_summary(&ctx, &completed, &cause),
            in_effect,
        };
    }
    rolled_back(&ctx, &completed, &cause).await
}

/// Compensates what completed and says how that went.
pub async fn rolled_back(ctx: &Arc<RunContext>, completed: &[Completed], cause: &str) -> RunResult {
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
    }
}

fn node_kind(ctx: &RunContext, index: usize) -> String {
    match ctx.plan.nodes[index].work {
        Work::Step(rb, si) => ctx.runbook(rb).steps[si].kind().name().to_string(),
        Work::Restart { .. } => "restart".into(),
    }
}

/// Runs one node and journals its result: `Ok(None)` when skipped by `when`.
async fn run_node(ctx: &Arc<RunContext>, index: usize) -> Result<Option<Done>, StepError> {
    let node = &ctx.plan.nodes[index];
    let result = attempt_node(ctx, index).await?;
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
                ctx.runbook(rb).steps[si].kind(),
                KindRef::Generate(_) | KindRef::Manual(_)
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

async fn attempt_node(ctx: &Arc<RunContext>, index: usize) -> Result<Option<Done>, StepError> {
    let node = &ctx.plan.nodes[index];
    let kind = node_kind(ctx, index);
    // Generating and verifying change nothing outside; an idempotent exec may run twice.
    // Their intent need not be on disk before they act.
    let durable_intent = match &node.work {
        Work::Step(rb, si) => {
            let step = &ctx.runbook(*rb).steps[*si];
            let harmless = matches!(step.kind(), KindRef::Generate(_) | KindRef::Verify(_));
            let repeatable = step.idempotent && matches!(step.kind(), KindRef::Exec(_));
            !(harmless || repeatable)
        }
        Work::Restart { .. } => true,
    };
    let intent = |attempt: u32| {
        let ctx = Arc::clone(ctx);
        let name = node.name.clone();
        async move {
            failpoint::hit("before-intent", &name);
            ctx.durable
                .intent(index, &name, attempt, durable_intent)
                .await?;
            failpoint::hit("after-intent", &name);
            Ok::<(), StepError>(())
        }
    };
    match &node.work {
        Work::Restart { services, serves } => {
            let (rb, si) = serves[0];
            let run = StepRun {
                ctx: Arc::clone(ctx),
                rb,
                si,
                node: index,
                name: node.name.clone(),
            };
            ctx.emitter.emit(EventKind::StepStarted {
                step: node.name.clone(),
                kind,
                attempt: 1,
            });
            // A restart serves steps whose `when` may be false: only the services of the
            // steps that still want a restart are restarted.
            let mut wanted: Vec<String> = Vec::new();
            for (rb, si) in serves {
                let step = &ctx.runbook(*rb).steps[*si];
                if let Some(when) = &step.when
                    && !ctx.eval(*rb, &when.value, None)?
                {
                    continue;
                }
                let listed = crate::plan::restart_services(
                    &ctx.project,
                    ctx.runbook(*rb),
                    step.restart.as_deref().unwrap_or_default(),
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
            intent(1).await?;
            restart_services(&run, &services).await?;
            failpoint::hit("after-effect", &node.name);
            Ok(Some(Done {
                outputs: minijinja::Value::from(()),
                compensation: Some(Compensation::RestartAgain { services }),
            }))
        }
        Work::Step(rb, si) => {
            let run = StepRun {
                ctx: Arc::clone(ctx),
                rb: *rb,
                si: *si,
                node: index,
                name: node.name.clone(),
            };
            let step = run.step();
            if let Some(when) = &step.when
                && !ctx.eval(*rb, &when.value, None)?
            {
                return Ok(None);
            }
            if let Some(question) = &step.confirm {
                let question = ctx.render(*rb, question)?;
                let _terminal = ctx.terminal.lock().await;
                acknowledge(&run, &question).await?;
            }
            if step.irreversible {
                let _terminal = ctx.terminal.lock().await;
                acknowledge(&run, "This step is the point of no return: after it, a failure can no longer be rolled back completely.").await?;
            }
            let policy = RetryPolicy::of(step, |text| ctx.render(*rb, text))?;
            let mut cancel = ctx.cancel.clone();
            let mut attempt = 1;
            loop {
                ctx.emitter.emit(EventKind::StepStarted {
                    step: node.name.clone(),
                    kind: kind.clone(),
                    attempt,
                });
                intent(attempt).await?;
                let error = match execute(&run).await {
                    Ok(mut done) => {
                        if matches!(step.rollback, Some(Rollback::None(_))) {
                            done.compensation = None;
                        }
                        return Ok(Some(done));
                    }
                    Err(error)
                        if error.is_retryable()
                            && policy.allows_after(attempt)
                            && !*cancel.borrow() =>
                    {
                        error
                    }
                    Err(error) if attempt > 1 => {
                        return Err(error.note(&format!("after {attempt} tries")));
                    }
                    Err(error) => return Err(error),
                };
                ctx.emitter.emit(EventKind::StepRetry {
                    step: node.name.clone(),
                    attempt,
                    error: error.message().to_string(),
                    error_kind: Some(error.kind()),
                });
                // A second Ctrl-C ends the pause: no new attempt, no new intent.
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
    }
}
