//! A run's life around the scheduler: the runtime and Ctrl-C handling, and the ending —
//! the journal's last record, the audit log, the rotation record, and the removal of pending
//! values and backups once nothing can need them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use super::recover::Waiting;
use super::scheduler::Stage;
use super::scheduler::{RunResult, StartState, execute_plan};
use super::start::StartSnapshot;
use crate::checked::Library;
use crate::events::{Emitter, EventSink};
use crate::events::{EventKind, Outcome};
use crate::host::{ControlDir, Host, Ssh, SshTarget};
use crate::journal::Record;
use crate::model::Phase;
use crate::plan::Plan;
use crate::project::Project;
use crate::redact::Redactor;
use crate::steps::context::{ContextParts, ExecOptions, RunContext, RunInfo};
use crate::steps::durable::Durable;

/// Builds the runtime a run executes on. One thread: the children supply the parallelism,
/// and handing every finished step from a worker thread to the scheduler and back cost more
/// than the scheduling itself (blocking work — HTTP checks, prompts — runs on tokio's
/// blocking pool).
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Executes the plan from `start`, with Ctrl-C once stopping new steps and twice killing the
/// ones in flight.
fn drive(
    runtime: &tokio::runtime::Runtime,
    ctx: &Arc<RunContext>,
    cancel: watch::Sender<bool>,
    start: StartState,
) -> RunResult {
    let stop = Arc::new(AtomicBool::new(false));
    runtime.block_on(async {
        let watcher = {
            let stop = Arc::clone(&stop);
            let emitter = ctx.emitter.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_err() {
                    return;
                }
                stop.store(true, Ordering::SeqCst);
                emitter.emit(EventKind::Warning {
                    step: None,
                    message: "interrupted: finishing the steps in flight, then stopping (Ctrl-C again kills them)".into(),
                });
                if tokio::signal::ctrl_c().await.is_ok() {
                    let _ = cancel.send(true);
                }
            })
        };
        let result = execute_plan(Arc::clone(ctx), stop, start).await;
        watcher.abort();
        result
    })
}

/// What a session is opened from: the checked project and its plan, where events go, how the
/// operator asked the run to behave, and where it starts from.
pub(crate) struct SessionSpec {
    pub project: Project,
    pub library: Library,
    pub plan: Plan,
    pub redactor: Redactor,
    pub sinks: Vec<Arc<dyn EventSink>>,
    pub options: ExecOptions,
    pub run: RunInfo,
    pub start: StartSnapshot,
    pub durable: Durable,
    /// The `waiting` state a retire phase started from: a retire that does not complete
    /// returns to it.
    pub retiring: Option<Waiting>,
    /// The hosts the plan acts on (`fleet_hosts`), with the connections preflight opened.
    pub hosts: Fleet,
}

/// A run ready to execute, the same for `run`, `resume` and `abort`: its context, the runtime
/// it executes on, and the sender a second Ctrl-C cancels through.
pub(crate) struct Session {
    pub ctx: Arc<RunContext>,
    runtime: tokio::runtime::Runtime,
    cancel: watch::Sender<bool>,
    retiring: Option<Waiting>,
}

impl Session {
    pub(crate) fn open(spec: SessionSpec) -> std::io::Result<Self> {
        let runtime = runtime()?;
        let (cancel, cancel_rx) = watch::channel(false);
        let emitter = Emitter::new(spec.sinks, &spec.redactor).with_hosts(spec.plan.node_hosts());
        let retiring = spec.retiring;
        let ctx = Arc::new(RunContext::new(ContextParts {
            project: Arc::new(spec.project),
            library: Arc::new(spec.library),
            plan: Arc::new(spec.plan),
            redactor: spec.redactor,
            emitter,
            options: spec.options,
            run: spec.run,
            start: spec.start,
            cancel: cancel_rx,
            durable: spec.durable,
            hosts: spec.hosts,
        }));
        Ok(Self {
            ctx,
            runtime,
            cancel,
            retiring,
        })
    }

    /// Announces a new run, or a phase of one: its first event.
    pub(crate) fn announce(&self, stage: Stage) {
        let ctx = &self.ctx;
        ctx.emitter.emit(EventKind::RunStarted {
            run_id: ctx.run.id.clone(),
            runbook: ctx.runbook(ctx.plan.root).name.value.clone(),
            mode: ctx.plan.mode.as_str().into(),
            secrets: ctx
                .plan
                .secrets(&ctx.library)
                .into_iter()
                .map(str::to_string)
                .collect(),
            steps: ctx.plan.nodes.len(),
            phase: phase_name(stage).map(str::to_string),
        });
    }

    /// Runs engine work outside the scheduler (judging a cut-off step, a rollback for `abort`).
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Executes the plan from `start`, records how the run ended, and returns its exit code.
    pub(crate) fn execute(self, start: StartState) -> u8 {
        let result = drive(&self.runtime, &self.ctx, self.cancel, start);
        finish(&self.ctx, &result, false, self.retiring.as_ref());
        result.exit_code
    }

    /// Records how an `abort` ended; returns its exit code.
    pub(crate) fn end_abort(&self, result: &RunResult) -> u8 {
        finish(&self.ctx, result, true, self.retiring.as_ref());
        result.exit_code
    }
}

/// The phase a stage runs, as events and the audit log name it.
pub(super) fn phase_name(stage: Stage) -> Option<&'static str> {
    match stage {
        Stage::Whole => None,
        Stage::Activate => Some(Phase::Activate.as_str()),
        Stage::Retire => Some(Phase::Retire.as_str()),
    }
}

/// The hosts a run reaches, by inventory name.
pub(crate) type Fleet = std::collections::HashMap<String, Arc<dyn Host>>;

/// One `Ssh` host per inventory host the plan acts on, sharing the run's 0700 directory of
/// connection sockets. Nothing connects yet: a host is reached when preflight or a step
/// first needs it, and its connection serves the rest of the run (one SSH handshake per
/// host, not one for preflight and another for the steps).
pub(crate) fn fleet_hosts(project: &Project, plan: &Plan) -> std::io::Result<Fleet> {
    let names: std::collections::BTreeSet<&str> = plan
        .nodes
        .iter()
        .filter_map(|n| n.host.as_deref())
        .collect();
    let mut hosts = Fleet::default();
    if names.is_empty() {
        return Ok(hosts);
    }
    let control = ControlDir::new()?;
    for name in names {
        // Checked when the project was opened: every host's connection variables work.
        let connection = project
            .inventory
            .connection(name)
            .map_err(std::io::Error::other)?;
        let target = SshTarget {
            name: name.to_string(),
            address: connection.address,
            port: connection.port,
            user: connection.user,
            identity_file: connection.identity_file,
            extra_args: connection.extra_args,
        };
        hosts.insert(
            name.to_string(),
            Arc::new(Ssh::new(target, Arc::clone(&control))),
        );
    }
    Ok(hosts)
}

/// A run over for good: its end journaled, then its pending values and backups removed and
/// new runs no longer blocked by it.
fn end_for_good(ctx: &RunContext, result: &RunResult, ended: String, problems: &mut Vec<String>) {
    let durable = &ctx.durable;
    // The end is durable before the backups and pending values go: until then a power cut
    // could leave a run that `resume` or `abort` must still be able to finish or undo. Their
    // removal itself needs no fsync: a power cut that undoes it leaves files of a run that
    // ended, which the next start removes (`exec::sweep::sweep_orphans`, and
    // `remove_temp_leftovers` beside each file a run edits).
    let end = durable.journal.durable_blocking(&Record::End {
        outcome: result.outcome,
        exit_code: result.exit_code,
        summary: result.summary.clone(),
        ended,
    });
    crate::failpoint::hit("end", "after-record");
    if let Err(e) = end {
        problems.push(format!(
            "the journal with the run's end ({e}); its pending values and backups are kept"
        ));
        return;
    }
    if let Err(e) = durable.remove_backups_beside() {
        problems.push(format!("removing backups: {e}"));
    }
    if let Err(e) = durable.state.remove_pending(&durable.run_id) {
        problems.push(format!("removing pending values: {e}"));
    }
    if let Err(e) = durable.state.clear_active() {
        problems.push(format!("the active-run marker: {e}"));
    }
}

/// Whether nothing of the run is left to resume or abort.
pub(crate) fn is_final(outcome: Outcome) -> bool {
    matches!(outcome, Outcome::Done | Outcome::RolledBack)
}

/// Records how the run ended (the last event, the audit log, the rotation record). A final
/// run loses its pending values and backups and stops blocking new runs; any other keeps them
/// for `resume` or `abort`.
pub(crate) fn finish(
    ctx: &RunContext,
    result: &RunResult,
    aborted: bool,
    retiring: Option<&Waiting>,
) {
    // A retire phase that is rolled back or aborted leaves the run waiting for retire again,
    // as it was before `runbook retire`.
    let back_to_waiting = result.stage == Stage::Retire
        && (aborted || result.outcome == Outcome::RolledBack)
        && retiring.is_some();
    let mut summary = result.summary.clone();
    if back_to_waiting && let Some(waiting) = retiring {
        summary.push_str(&format!(
            "; the run is waiting for retire again (due {})",
            waiting.due
        ));
    }
    ctx.emitter.emit(EventKind::RunFinished {
        outcome: result.outcome,
        exit_code: result.exit_code,
        summary,
    });
    let ended = crate::events::now_text();
    let durable = &ctx.durable;
    let kept = match (result.outcome, retiring) {
        (Outcome::WaitingForRetire, _) => super::phases::kept_files(ctx),
        (_, Some(waiting)) if back_to_waiting => waiting.kept.clone(),
        _ => Vec::new(),
    };
    let (entries, rotated) = super::audit_trail::audit_of(ctx, result, aborted, &ended, &kept);
    let mut problems = Vec::new();
    let (audit, rotations) = crate::audit::record_end(&durable.state, &entries, rotated);
    if let Err(e) = audit {
        problems.push(format!("the audit log: {e}"));
    }
    if let Err(e) = rotations {
        problems.push(format!("the rotation record: {e}"));
    }
    let last = !back_to_waiting && (aborted || is_final(result.outcome));
    if result.outcome == Outcome::WaitingForRetire {
        let due = result
            .retire_due
            .as_deref()
            .expect("an activate phase that ended has a due date; this is a bug");
        super::phases::enter_waiting(ctx, &ended, due, &kept, &mut problems);
    } else if back_to_waiting && let Some(waiting) = retiring {
        super::phases::enter_waiting(
            ctx,
            &waiting.since,
            &waiting.due,
            &waiting.kept,
            &mut problems,
        );
    }
    if result.outcome == Outcome::AwaitingOperator {
        // The record of which steps wait reaches the disk before the lock is released.
        let _ = durable.journal.durable_blocking(&Record::Note {
            text: "awaiting the operator".into(),
            detail: BTreeMap::new(),
        });
    }
    if last {
        end_for_good(ctx, result, ended, &mut problems);
    }
    for problem in problems {
        ctx.emitter.emit(EventKind::Warning {
            step: None,
            message: format!("could not update {problem}"),
        });
    }
    durable.journal.close();
}
