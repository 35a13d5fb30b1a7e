//! Compensation: completed steps undone in reverse order of completion — files restored
//! byte-for-byte, declared rollbacks run — and then the restarted services restarted once
//! more, so they read the restored files.

use super::context::RunContext;
use super::events::EventKind;
use crate::failure::ErrorKind;
use crate::model::Rollback;
use crate::plan::Work;
use crate::steps::{
    Compensation, StepError, StepRun, acknowledge, restart_services, run_env, run_exec, run_file,
};

#[derive(Clone)]
pub struct Completed {
    pub node: usize,
    pub compensation: Option<Compensation>,
}

/// What a complete rollback claims; `abort`, which verifies nothing afterwards, says less.
pub const AS_BEFORE: &str = "; the system is as before";

pub struct CompensationReport {
    /// Whether everything was put back.
    pub complete: bool,
    pub summary: String,
}

pub async fn compensate(
    ctx: &std::sync::Arc<RunContext>,
    completed: &[Completed],
) -> CompensationReport {
    let mut restored = Vec::new();
    let mut failed = Vec::new();
    let mut restart: Vec<String> = Vec::new();
    let mut restart_run: Option<StepRun> = None;
    for item in completed.iter().rev() {
        let Some(compensation) = &item.compensation else {
            continue;
        };
        let node = &ctx.plan.nodes[item.node];
        let (rb, si) = match &node.work {
            Work::Step(rb, si) => (*rb, *si),
            Work::Restart { serves, .. } => serves[0],
        };
        let run = StepRun {
            ctx: std::sync::Arc::clone(ctx),
            rb,
            si,
            node: item.node,
            name: node.name.clone(),
        };
        let result = match compensation {
            Compensation::RestartAgain { services } => {
                for service in services {
                    if !restart.contains(service) {
                        restart.push(service.clone());
                    }
                }
                restart_run.get_or_insert(run);
                continue;
            }
            Compensation::Restore {
                path,
                previous,
                mode,
                ..
            } => {
                ctx.emitter.emit(EventKind::CompensationStarted {
                    step: node.name.clone(),
                    action: format!("restore {}", path.display()),
                });
                let lock = ctx.file_lock(path);
                let _guard = lock.lock().await;
                let result = ctx
                    .host
                    .restore(path, previous.as_deref(), *mode)
                    .await
                    .map_err(StepError::from);
                result.map(|()| format!("restored {}", path.display()))
            }
            Compensation::Rollback => {
                let step = run.step();
                ctx.emitter.emit(EventKind::CompensationStarted {
                    step: node.name.clone(),
                    action: "rollback".into(),
                });
                match &step.rollback {
                    Some(Rollback::Body(body)) => {
                        if let Some(exec) = &body.exec {
                            run_exec(&run, exec, body.timeout.as_ref().map(|t| t.duration))
                                .await
                                .map(|_| format!("ran the rollback of {}", node.name))
                        } else if let Some(manual) = &body.manual {
                            match ctx.render(rb, &manual.instructions) {
                                Ok(text) => acknowledge(&run, &text)
                                    .await
                                    .map(|()| format!("operator undid {}", node.name)),
                                Err(e) => Err(e),
                            }
                        } else if let Some(services) = &body.restart {
                            // Rendered like a `restart` step's list: the driver must get
                            // service names, never a template's text.
                            match services
                                .iter()
                                .map(|s| ctx.render(rb, s))
                                .collect::<Result<Vec<_>, _>>()
                            {
                                Ok(services) => {
                                    for service in services {
                                        if !restart.contains(&service) {
                                            restart.push(service);
                                        }
                                    }
                                    restart_run.get_or_insert(run);
                                    continue;
                                }
                                Err(e) => Err(e),
                            }
                        } else if let Some(env) = &body.env {
                            run_env(&run, env)
                                .await
                                .map(|_| format!("ran the env rollback of {}", node.name))
                        } else if let Some(file) = &body.file {
                            run_file(&run, file)
                                .await
                                .map(|_| format!("ran the file rollback of {}", node.name))
                        } else {
                            Err(StepError::new(
                                ErrorKind::Bug,
                                "the rollback has no body; this is a bug",
                            ))
                        }
                    }
                    _ => continue,
                }
            }
        };
        // Durable, so an abort after a crash mid-rollback does not undo a step twice.
        let _ = ctx
            .durable
            .journal
            .durable(&crate::journal::Record::Undone {
                node: item.node,
                name: node.name.clone(),
                ok: result.is_ok(),
                error: result.as_ref().err().map(|e| e.message().to_string()),
            })
            .await;
        match result {
            Ok(what) => {
                ctx.emitter.emit(EventKind::CompensationFinished {
                    step: node.name.clone(),
                    ok: true,
                    error: None,
                    error_kind: None,
                });
                restored.push(what);
            }
            Err(error) => {
                ctx.emitter.emit(EventKind::CompensationFinished {
                    step: node.name.clone(),
                    ok: false,
                    error: Some(error.message().to_string()),
                    error_kind: Some(error.kind()),
                });
                failed.push(format!("{}: {error}", node.name));
            }
        }
    }
    if let Some(run) = restart_run {
        let name = format!("restart:{}", restart.join(","));
        ctx.emitter.emit(EventKind::CompensationStarted {
            step: name.clone(),
            action: format!("restart {} again", restart.join(", ")),
        });
        match restart_services(&run, &restart).await {
            Ok(()) => {
                ctx.emitter.emit(EventKind::CompensationFinished {
                    step: name,
                    ok: true,
                    error: None,
                    error_kind: None,
                });
                restored.push(format!("restarted {}", restart.join(", ")));
            }
            Err(e) => {
                ctx.emitter.emit(EventKind::CompensationFinished {
                    step: name,
                    ok: false,
                    error: Some(e.message().to_string()),
                    error_kind: Some(e.kind()),
                });
                failed.push(format!("restart {}: {e}", restart.join(", ")));
            }
        }
    }
    let did = if restored.is_empty() {
        "nothing needed undoing".to_string()
    } else {
        restored.join(", ")
    };
    if failed.is_empty() {
        CompensationReport {
            complete: true,
            summary: format!("everything was rolled back ({did}){AS_BEFORE}"),
        }
    } else {
        CompensationReport {
            complete: false,
            summary: format!(
                "ROLLBACK INCOMPLETE — not restored: {}; restored: {did}. Fix these by hand",
                failed.join("; ")
            ),
        }
    }
}
