//! Compensation: completed steps undone in reverse order of completion — files restored
//! byte-for-byte, declared rollbacks run — and then the restarted services restarted once
//! more, so they read the restored files.

use crate::checked::{Rollback, RollbackBody, RollbackKind};
use crate::events::EventKind;
use crate::plan::NodeIx;
use crate::plan::Work;
use crate::steps::context::RunContext;
use crate::steps::{
    Compensation, StepError, StepRun, restart_services, run_env, run_exec, run_file, undo_by_hand,
};

#[derive(Clone)]
pub(crate) struct Completed {
    pub node: NodeIx,
    pub compensation: Option<Compensation>,
}

/// What a complete rollback claims; `abort`, which verifies nothing afterwards, says less.
pub(crate) const AS_BEFORE: &str = "; the system is as before";

pub(super) struct CompensationReport {
    /// Whether everything was put back.
    pub complete: bool,
    pub summary: String,
}

/// What compensation has come to so far.
#[derive(Default)]
struct Tally {
    restored: Vec<String>,
    failed: Vec<String>,
    /// Per host, in the order first met: the services to restart once every file is back,
    /// and a step to run the driver as there.
    restart: Vec<(StepRun, Vec<String>)>,
}

impl Tally {
    fn restart_later(&mut self, run: StepRun, services: Vec<String>) {
        let host = run.host_name().map(str::to_string);
        let index = match self
            .restart
            .iter()
            .position(|(r, _)| r.host_name() == host.as_deref())
        {
            Some(index) => index,
            None => {
                self.restart.push((run, Vec::new()));
                self.restart.len() - 1
            }
        };
        let list = &mut self.restart[index].1;
        for service in services {
            if !list.contains(&service) {
                list.push(service);
            }
        }
    }
}

/// What undoing one completed step came to.
enum Undone {
    /// It was undone (what was done), or undoing it failed.
    Ran(Result<String, StepError>),
    /// Its services are restarted again after everything else.
    RestartLater(Vec<String>),
    /// Nothing to undo.
    Nothing,
}

pub(super) async fn compensate(
    ctx: &std::sync::Arc<RunContext>,
    completed: &[Completed],
) -> CompensationReport {
    let mut tally = Tally::default();
    for item in completed.iter().rev() {
        let Some(compensation) = &item.compensation else {
            continue;
        };
        let node = ctx.plan.node(item.node);
        let (rb, si) = match &node.work {
            Work::Step(rb, si) => (*rb, *si),
            Work::Restart { serves, .. } => serves[0],
        };
        let run = StepRun::new(ctx, item.node, rb, si);
        match undo(&run, compensation).await {
            Undone::Ran(result) => record(ctx, item.node, result, &mut tally).await,
            Undone::RestartLater(services) => tally.restart_later(run, services),
            Undone::Nothing => {}
        }
    }
    for (run, services) in std::mem::take(&mut tally.restart) {
        restart_again(&run, &services, &mut tally).await;
    }
    report(&tally)
}

async fn undo(run: &StepRun, compensation: &Compensation) -> Undone {
    let ctx = &run.ctx;
    match compensation {
        Compensation::RestartAgain { services } => Undone::RestartLater(services.clone()),
        Compensation::Restore {
            path,
            previous,
            mode,
            ..
        } => {
            ctx.emitter.emit(EventKind::CompensationStarted {
                step: run.name.clone(),
                action: format!("restore {}", path.display()),
            });
            let lock = ctx.file_lock(run.host_name(), path);
            let _guard = lock.lock().await;
            let result = run
                .host()
                .restore(path, previous.as_deref(), *mode)
                .await
                .map_err(StepError::from);
            Undone::Ran(result.map(|()| format!("restored {}", path.display())))
        }
        Compensation::Rollback => match &run.step().rollback {
            Some(Rollback::Body(body)) => declared_rollback(run, body).await,
            _ => Undone::Nothing,
        },
    }
}

/// Runs a step's own `rollback:` body.
async fn declared_rollback(run: &StepRun, body: &RollbackBody) -> Undone {
    let ctx = &run.ctx;
    let name = &run.name;
    // A restart waits until every file is back (see `restart_again`); the rest runs now.
    if !matches!(body.kind, RollbackKind::Restart(_)) {
        ctx.emitter.emit(EventKind::CompensationStarted {
            step: name.clone(),
            action: "rollback".into(),
        });
    }
    let result = match &body.kind {
        RollbackKind::Restart(services) => {
            // Rendered like a `restart` step's list: the driver must get service names, never
            // a template's text.
            return match services.iter().map(|s| run.render(s)).collect() {
                Ok(services) => Undone::RestartLater(services),
                Err(e) => Undone::Ran(Err(e)),
            };
        }
        RollbackKind::Exec(exec) => run_exec(run, exec, body.timeout.as_ref().map(|t| t.duration))
            .await
            .map(|_| format!("ran the rollback of {name}")),
        RollbackKind::Manual(manual) => match run.render(&manual.instructions) {
            Ok(text) => undo_by_hand(run, &text)
                .await
                .map(|()| format!("operator undid {name}")),
            Err(e) => Err(e),
        },
        RollbackKind::Env(env) => run_env(run, env)
            .await
            .map(|_| format!("ran the env rollback of {name}")),
        RollbackKind::File(file) => run_file(run, file)
            .await
            .map(|_| format!("ran the file rollback of {name}")),
    };
    Undone::Ran(result)
}

/// Journals how undoing node `index` went (durable, so an abort after a crash mid-rollback
/// does not undo a step twice) and says so in an event.
async fn record(
    ctx: &RunContext,
    index: NodeIx,
    result: Result<String, StepError>,
    tally: &mut Tally,
) {
    let name = &ctx.plan.node(index).name;
    let _ = ctx
        .durable
        .journal
        .durable(&crate::journal::Record::Undone {
            node: index.get(),
            name: name.clone(),
            ok: result.is_ok(),
            error: result.as_ref().err().map(|e| e.message().to_string()),
        })
        .await;
    ctx.emitter.emit(EventKind::CompensationFinished {
        step: name.clone(),
        ok: result.is_ok(),
        error: result.as_ref().err().map(|e| e.message().to_string()),
        error_kind: result.as_ref().err().map(StepError::kind),
    });
    match result {
        Ok(what) => tally.restored.push(what),
        Err(error) => tally.failed.push(format!("{name}: {error}")),
    }
}

/// Restarts, once per host, every service restarted there during the run, now that its
/// files are back.
async fn restart_again(run: &StepRun, list: &[String], tally: &mut Tally) {
    let ctx = &run.ctx;
    let at = run.host_name().map(|h| format!("@{h}")).unwrap_or_default();
    let services = format!("{}{at}", list.join(", "));
    let name = format!("restart:{}{at}", list.join(","));
    ctx.emitter.emit(EventKind::CompensationStarted {
        step: name.clone(),
        action: format!("restart {services} again"),
    });
    let result = restart_services(run, list).await;
    ctx.emitter.emit(EventKind::CompensationFinished {
        step: name,
        ok: result.is_ok(),
        error: result.as_ref().err().map(|e| e.message().to_string()),
        error_kind: result.as_ref().err().map(StepError::kind),
    });
    match result {
        Ok(()) => tally.restored.push(format!("restarted {services}")),
        Err(e) => tally.failed.push(format!("restart {services}: {e}")),
    }
}

fn report(tally: &Tally) -> CompensationReport {
    let did = if tally.restored.is_empty() {
        "nothing needed undoing".to_string()
    } else {
        tally.restored.join(", ")
    };
    if tally.failed.is_empty() {
        CompensationReport {
            complete: true,
            summary: format!("everything was rolled back ({did}){AS_BEFORE}"),
        }
    } else {
        CompensationReport {
            complete: false,
            summary: format!(
                "ROLLBACK INCOMPLETE — not restored: {}; restored: {did}. Fix these by hand",
                tally.failed.join("; ")
            ),
        }
    }
}
