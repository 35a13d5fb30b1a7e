//! The scheduler: a ready set from the plan's `needs`, at most `jobs` nodes at once (each
//! attempted by `attempt.rs`); on failure (or interrupt), the compensation of what completed.

use crate::failure::ErrorKind;
use crate::plan::NodeIx;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::arming::Arming;
use super::attempt::{node_kind, run_node};
pub(crate) use super::compensate::Completed;
use super::ending::ending;
use super::in_flight::InFlight;
use super::ready::ReadySet;
use super::rolling::BatchGate;
pub(crate) use super::stage::Stage;
use crate::events::{EventKind, Outcome, StepStatus, duration_ms};
use crate::journal::Record;
use crate::steps::Done;
use crate::steps::context::{RunContext, StepError};

/// How a run ended, for the exit code and the last line.
#[derive(Debug)]
pub(crate) struct RunResult {
    pub outcome: Outcome,
    pub exit_code: u8,
    pub summary: String,
    /// Plan nodes whose effect is in place when the run stops (none after a rollback,
    /// except what an earlier phase settled).
    pub in_effect: BTreeSet<NodeIx>,
    /// Which steps this execution ran.
    pub stage: Stage,
    /// When an activate phase that ended waiting for retire may be retired (RFC 3339).
    pub retire_due: Option<String>,
}

/// Where a run starts from: nothing for a new run; what the journal says for `resume`.
#[derive(Default)]
pub(crate) struct StartState {
    /// Completed steps in order of completion, with how to undo them.
    pub completed: Vec<Completed>,
    /// Steps that `when` skipped.
    pub skipped: Vec<NodeIx>,
    /// Steps an earlier phase completed: done, and never undone by this one (the activate
    /// phase of a run that is now retiring).
    pub settled: BTreeSet<NodeIx>,
    /// Which of the plan's steps this execution runs.
    pub stage: Stage,
}

type Finished = (NodeIx, Duration, Result<Option<Done>, StepError>);

/// What the loop has seen so far: the completed steps in order, and the first failure.
pub(super) struct Progress {
    pub(super) completed: Vec<Completed>,
    pub(super) failure: Option<(String, StepError)>,
    /// Manual steps waiting for a person; what needs them does not start.
    pub(super) awaiting: Vec<NodeIx>,
    /// The batches of hosts and the failures they tolerate (`serial`, `max_fail`).
    pub(super) gate: Option<BatchGate>,
    /// Nodes a batch opening released, to join the ready set.
    pub(super) released: Vec<NodeIx>,
}

/// Runs every node of the plan. `stop` is set by the first Ctrl-C: no new step starts.
pub(crate) async fn execute_plan(
    ctx: Arc<RunContext>,
    stop: Arc<AtomicBool>,
    start: StartState,
) -> RunResult {
    let stage = start.stage;
    let settled = start.settled;
    let mut finished_before: BTreeSet<NodeIx> = start.skipped.iter().copied().collect();
    finished_before.extend(start.completed.iter().map(|c| c.node));
    finished_before.extend(settled.iter().copied());
    let mut ready = ReadySet::new(&ctx.plan, &finished_before, stage);
    let mut running: JoinSet<Finished> = JoinSet::new();
    let mut in_flight = InFlight::default();
    let mut finished = finished_before.len();
    let mut progress = Progress {
        completed: start.completed,
        failure: None,
        awaiting: Vec::new(),
        gate: BatchGate::new(&ctx.plan, &finished_before, stage),
        released: Vec::new(),
    };
    let mut arming = Arming::new(&ctx, progress.gate.is_some());
    loop {
        // The ready steps are armed before they start, so those that start together share one
        // fsync: started first, each would journal its intent and wait for an fsync of its
        // own (a run's first steps, or a chain whose next step was not armed).
        if progress.failure.is_none() && !stop.load(Ordering::SeqCst) {
            arming.top_up(&ctx, &ready);
        }
        while progress.failure.is_none()
            && !stop.load(Ordering::SeqCst)
            && running.len() < ctx.options.jobs.max(1)
        {
            let Some(next) = arming.next(&mut ready) else {
                break;
            };
            if let Some(gate) = &mut progress.gate
                && !gate.admits(next)
            {
                continue;
            }
            let armed = arming.starting(next);
            ready.started(next);
            let task_ctx = Arc::clone(&ctx);
            let handle = running.spawn(async move {
                let started = Instant::now();
                let result = run_node(&task_ctx, next, armed).await;
                (next, started.elapsed(), result)
            });
            in_flight.started(&ctx, next, handle);
        }
        if progress.failure.is_none() && !stop.load(Ordering::SeqCst) {
            // While the steps just started run, the intents of those that start next go
            // to disk.
            arming.top_up(&ctx, &ready);
        }
        let Some(joined) = running.join_next_with_id().await else {
            break;
        };
        match take_in(&ctx, joined, &mut in_flight, &mut progress) {
            Ended::Well(index) => {
                ready.finished(index);
                finished += 1;
                if let Some(gate) = &mut progress.gate {
                    progress.released.extend(gate.finished(index));
                }
            }
            Ended::Badly(index) => {
                ready.ended_badly(index);
                arming.ended_badly(&ctx, index);
            }
            Ended::Unknown => {}
        }
        ready.release(progress.released.drain(..));
        if progress.failure.is_some() {
            in_flight.abort_verifies();
        }
    }
    debug_assert!(in_flight.tasks.is_empty(), "every task was joined");
    arming.finish(&ctx);
    // A Ctrl-C that came once every step had finished stopped nothing: the run is done, and
    // leaving it to `resume` would only ask the operator to finish what is finished.
    let in_stage = ctx
        .plan
        .indexed_nodes()
        .filter(|(i, _)| stage.runs(&ctx.plan, *i))
        .count();
    let interrupted = stop.load(Ordering::SeqCst) && finished < in_stage;
    let mut result = ending(&ctx, progress, interrupted, stage).await;
    result.in_effect.extend(settled);
    result
}

/// Records how node `index` finished (its event; a failure in the journal too) and keeps its
/// outputs for later templates; whether it finished well, so what needs it may start.
fn record(
    ctx: &RunContext,
    index: NodeIx,
    elapsed: Duration,
    result: Result<Option<Done>, StepError>,
    progress: &mut Progress,
) -> bool {
    let node = ctx.plan.node(index);
    let kind = node_kind(ctx, index);
    match result {
        Ok(done) => {
            ctx.emitter.emit(EventKind::StepFinished {
                step: node.name.clone(),
                kind,
                status: if done.is_some() {
                    StepStatus::Done
                } else {
                    StepStatus::Skipped
                },
                duration_ms: duration_ms(elapsed),
                error: None,
                error_kind: None,
            });
            if let Some(done) = done {
                ctx.set_outputs(index, done.outputs);
                progress.completed.push(Completed {
                    node: index,
                    compensation: done.compensation,
                });
            }
            true
        }
        Err(error) if error.kind() == ErrorKind::Awaiting => {
            // Not a failure: the step did nothing and waits for `resume`, while whatever
            // does not need it goes on.
            ctx.durable.journal.record(&Record::Awaiting {
                node: index.get(),
                name: node.name.clone(),
            });
            ctx.emitter.emit(EventKind::StepFinished {
                step: node.name.clone(),
                kind,
                status: StepStatus::Awaiting,
                duration_ms: duration_ms(elapsed),
                error: None,
                error_kind: None,
            });
            progress.awaiting.push(index);
            false
        }
        Err(error) => {
            ctx.durable.journal.record(&Record::Failed {
                node: index.get(),
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
            // Within `max_fail`, the host is left as it failed and the others go on.
            let first = progress.failure.is_none() && error.kind() != ErrorKind::Cancelled;
            match (progress.gate.as_mut().filter(|_| first))
                .and_then(|gate| gate.tolerate(index, &node.name, error.message()))
            {
                Some(released) => progress.released.extend(released),
                None => _ = progress.failure.get_or_insert((node.name.clone(), error)),
            }
            false
        }
    }
}

/// How a task that ended left its node.
enum Ended {
    /// Done or skipped: what needs it may start.
    Well(NodeIx),
    /// Failed, cancelled, panicked or awaiting an operator: what needs it does not start.
    Badly(NodeIx),
    /// A task no node is known for.
    Unknown,
}

/// Takes in a task that ended: its node's result recorded, a verify aborted below as
/// cancelled (journaled and shown, never compensated), a panic as a failure.
fn take_in(
    ctx: &RunContext,
    joined: Result<(tokio::task::Id, Finished), tokio::task::JoinError>,
    in_flight: &mut InFlight,
    progress: &mut Progress,
) -> Ended {
    match joined {
        Ok((id, (index, elapsed, result))) => {
            in_flight.ended(id);
            if record(ctx, index, elapsed, result, progress) {
                Ended::Well(index)
            } else {
                Ended::Badly(index)
            }
        }
        Err(e) if e.is_cancelled() => {
            let Some((index, started)) = in_flight.ended(e.id()) else {
                return Ended::Unknown;
            };
            let cause = progress.failure.as_ref().map_or("a step", |(s, _)| s);
            let error = StepError::new(
                ErrorKind::Cancelled,
                format!("cancelled: `{cause}` failed first"),
            );
            record(ctx, index, started.elapsed(), Err(error), progress);
            Ended::Badly(index)
        }
        Err(e) => {
            // A panicking step is a bug; treat it as a failure so the run still compensates.
            progress.failure.get_or_insert((
                "a step".into(),
                StepError::new(
                    ErrorKind::Bug,
                    format!("a step panicked: {e}; this is a bug"),
                ),
            ));
            match in_flight.ended(e.id()) {
                Some((index, _)) => Ended::Badly(index),
                None => Ended::Unknown,
            }
        }
    }
}
