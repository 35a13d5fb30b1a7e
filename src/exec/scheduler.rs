//! The scheduler: a ready set from the plan's `needs`, at most `jobs` steps at once, `when`
//! and retries, and on failure (or interrupt) the compensation of what completed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::compensate::{Completed, compensate};
use super::context::{RunContext, StepError};
use super::events::{EventKind, Outcome, StepStatus, duration_ms};
use crate::exit;
use crate::model::{KindRef, Mode, Rollback};
use crate::plan::Work;
use crate::steps::{Compensation, Done, StepRun, acknowledge, execute, restart_services};

/// How a run ended, for the exit code and the last line.
#[derive(Debug)]
pub struct RunResult {
    pub outcome: Outcome,
    pub exit_code: u8,
    pub summary: String,
}

const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Runs every node of the plan. `stop` is set by the first Ctrl-C: no new step starts.
pub async fn execute_plan(ctx: Arc<RunContext>, stop: Arc<AtomicBool>) -> RunResult {
    let plan = Arc::clone(&ctx.plan);
    let count = plan.nodes.len();
    let mut waiting: Vec<usize> = plan.nodes.iter().map(|n| n.needs.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (index, node) in plan.nodes.iter().enumerate() {
        for need in &node.needs {
            dependents[*need].push(index);
        }
    }
    let mut ready: BTreeSet<usize> = (0..count).filter(|i| waiting[*i] == 0).collect();
    let mut running: JoinSet<(usize, Duration, Result<Option<Done>, StepError>)> = JoinSet::new();
    let mut completed: Vec<Completed> = Vec::new();
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
                    StepError::new(format!("a step panicked: {e}; this is a bug")),
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
                ctx.emitter.emit(EventKind::StepFinished {
                    step: node.name.clone(),
                    kind,
                    status: StepStatus::Failed,
                    duration_ms: duration_ms(elapsed),
                    error: Some(error.message.clone()),
                });
                failure.get_or_insert((node.name.clone(), error));
            }
        }
    }
    let interrupted = stop.load(Ordering::SeqCst);
    if failure.is_none() && !interrupted {
        return RunResult {
            outcome: Outcome::Done,
            exit_code: exit::DONE,
            summary: format!("all {count} steps done"),
        };
    }
    let cause = match &failure {
        Some((step, error)) => format!("step `{step}` failed: {}", error.message),
        None => "interrupted".to_string(),
    };
    if ctx.plan.mode == Mode::Incident {
        return RunResult {
            outcome: Outcome::Paused,
            exit_code: if interrupted && failure.is_none() {
                exit::INTERRUPTED
            } else {
                exit::NEEDS_OPERATOR
            },
            summary: paused_summary(&ctx, &completed, &cause),
        };
    }
    let report = compensate(&ctx, &completed).await;
    let exit_code = match (report.complete, interrupted && failure.is_none()) {
        (false, _) => exit::NEEDS_OPERATOR,
        (true, true) => exit::INTERRUPTED,
        (true, false) => exit::FAILED,
    };
    let outcome = match exit_code {
        exit::NEEDS_OPERATOR => Outcome::NeedsOperator,
        exit::INTERRUPTED => Outcome::Interrupted,
        _ => Outcome::RolledBack,
    };
    RunResult {
        outcome,
        exit_code,
        summary: format!("{cause}; {}", report.summary),
    }
}

fn node_kind(ctx: &RunContext, index: usize) -> String {
    match ctx.plan.nodes[index].work {
        Work::Step(rb, si) => ctx.runbook(rb).steps[si].kind().name().to_string(),
        Work::Restart { .. } => "restart".into(),
    }
}

/// Runs one node: `Ok(None)` when skipped by `when`.
async fn run_node(ctx: &Arc<RunContext>, index: usize) -> Result<Option<Done>, StepError> {
    let node = &ctx.plan.nodes[index];
    let kind = node_kind(ctx, index);
    match &node.work {
        Work::Restart { services, serves } => {
            let (rb, si) = serves[0];
            let run = StepRun {
                ctx: Arc::clone(ctx),
                rb,
                si,
                name: node.name.clone(),
            };
            ctx.emitter.emit(EventKind::StepStarted {
                step: node.name.clone(),
                kind,
                attempt: 1,
            });
            restart_services(&run, services).await?;
            Ok(Some(Done {
                outputs: minijinja::Value::from(()),
                compensation: Some(Compensation::RestartAgain {
                    services: services.clone(),
                }),
            }))
        }
        Work::Step(rb, si) => {
            let run = StepRun {
                ctx: Arc::clone(ctx),
                rb: *rb,
                si: *si,
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
            // A verify step retries on its own terms (`verify.retries`).
            let retries = if matches!(step.kind(), KindRef::Verify(_)) {
                0
            } else {
                step.retries.unwrap_or(0)
            };
            let interval = step
                .interval
                .as_ref()
                .map_or(DEFAULT_INTERVAL, |d| d.duration);
            let mut attempt = 1;
            loop {
                ctx.emitter.emit(EventKind::StepStarted {
                    step: node.name.clone(),
                    kind: kind.clone(),
                    attempt,
                });
                match execute(&run).await {
                    Ok(mut done) => {
                        if matches!(step.rollback, Some(Rollback::None(_))) {
                            done.compensation = None;
                        }
                        return Ok(Some(done));
                    }
                    Err(error) if attempt <= retries && !*ctx.cancel.borrow() => {
                        ctx.emitter.emit(EventKind::StepRetry {
                            step: node.name.clone(),
                            attempt,
                            error: error.message,
                        });
                        tokio::time::sleep(interval).await;
                        attempt += 1;
                    }
                    Err(error) => return Err(error),
                }
            }
        }
    }
}

/// What an incident run leaves when it pauses: which secrets are rotated and which are not.
fn paused_summary(ctx: &RunContext, completed: &[Completed], cause: &str) -> String {
    let done: BTreeSet<String> = completed
        .iter()
        .map(|c| ctx.plan.nodes[c.node].name.clone())
        .collect();
    let mut rotated = Vec::new();
    let mut partial = Vec::new();
    let mut untouched = Vec::new();
    for &rb in &ctx.plan.runbooks {
        let runbook = ctx.runbook(rb);
        let Some(secret) = &runbook.secret else {
            continue;
        };
        let names: Vec<String> = runbook
            .steps
            .iter()
            .map(|s| format!("{}/{}", runbook.name.value, s.id.value))
            .collect();
        let count = names.iter().filter(|n| done.contains(*n)).count();
        let id = secret.id.value.clone();
        if count == names.len() {
            rotated.push(id);
        } else if count == 0 {
            untouched.push(id);
        } else {
            partial.push(format!("{id} ({count} of {} steps done)", names.len()));
        }
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    format!(
        "{cause}; incident run paused, nothing was restored (a compromised value is never put back). rotated: {}; partly rotated: {}; not rotated: {}. Fix the cause, then finish the remaining steps",
        list(&rotated),
        list(&partial),
        list(&untouched)
    )
}
