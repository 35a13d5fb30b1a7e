//! The judgement of a step that started but recorded no result (a kill cut it off): whether
//! its effect is in place — env and file edits by their content, an `exec` step by its
//! `check` — and how to undo it if so. `resume` and `abort` both ask it.

use std::sync::Arc;

use super::recover::Recovered;
use crate::checked::{Rollback, StepKind};
use crate::plan::NodeIx;
use crate::plan::Work;
use crate::steps::context::RunContext;
use crate::steps::{Compensation, StepRun, env_target, run_exec};

/// What a step that started but recorded no result did.
pub(crate) enum Doubt {
    Applied,
    NotApplied,
    /// Safe to do again, but it may have happened: a restart's driver runs in its own process
    /// group and goes on recreating services with the new values after `runbook` is killed.
    /// `resume` does it again; `abort` undoes it (restarts again after restoring).
    Possibly,
    /// Nobody can tell; the message says which step and why.
    Unknown(String),
}

pub(crate) async fn judge(ctx: &Arc<RunContext>, node: NodeIx) -> Doubt {
    let plan_node = ctx.plan.node(node);
    let Work::Step(rb, si) = plan_node.work else {
        return Doubt::Possibly;
    };
    let run = StepRun::new(ctx, node, rb, si);
    let step = run.step();
    match &step.kind {
        StepKind::Env(spec) => {
            let Ok(path) = env_target(&run, spec.file.as_ref()) else {
                return Doubt::NotApplied;
            };
            let Ok(Some(bytes)) = run.host().read(&path).await else {
                return Doubt::NotApplied;
            };
            let Ok(file) = crate::envfile::EnvFile::parse(&bytes) else {
                return Doubt::NotApplied;
            };
            let mut applied = true;
            for (key, template) in &spec.set {
                match run.render(template) {
                    Ok(expected) => applied &= file.get(key).as_deref() == Some(expected.as_str()),
                    Err(_) => applied = false,
                }
            }
            // An unset is in place when the key is gone (a retire phase's whole edit may be
            // one: without this, a cut-off unset counted as done and was never made).
            applied &= spec.unset.iter().all(|key| file.get(key).is_none());
            if applied {
                Doubt::Applied
            } else {
                Doubt::NotApplied
            }
        }
        StepKind::File(spec) => {
            let path = run.resolve(&run.render(&spec.path).unwrap_or_default());
            let expected = run.render(&spec.content).unwrap_or_default();
            if run.host().read(&path).await.ok().flatten().as_deref() == Some(expected.as_bytes()) {
                Doubt::Applied
            } else {
                Doubt::NotApplied
            }
        }
        StepKind::Exec(_) if step.idempotent => Doubt::NotApplied,
        StepKind::Exec(_) => match &step.check {
            Some(check) => match run_exec(&run, check, None).await {
                Ok(_) => Doubt::Applied,
                Err(_) => Doubt::NotApplied,
            },
            None => Doubt::Unknown(format!(
                "step `{}` started but its result was not recorded, and it is neither `idempotent` nor has a `check`",
                plan_node.name
            )),
        },
        // Generating, restarting, verifying, asking and reporting are safe to do again.
        _ => Doubt::NotApplied,
    }
}

/// The compensation of a step found in effect.
pub(crate) fn compensation_of(
    ctx: &RunContext,
    recovered: &Recovered,
    node: NodeIx,
) -> Option<Compensation> {
    let plan_node = ctx.plan.node(node);
    if let Some((path, backup, mode)) = recovered.backups.get(&node) {
        let record = crate::journal::CompensationRecord::Restore {
            path: path.clone(),
            backup: backup.clone(),
            mode: *mode,
        };
        return super::recover::rebuild(&ctx.durable.state, &ctx.run.id, record).ok();
    }
    match &plan_node.work {
        Work::Restart { services, .. } => Some(Compensation::RestartAgain {
            services: services.clone(),
        }),
        Work::Step(rb, si) => match ctx.runbook(*rb).step(*si).rollback {
            Some(Rollback::Body(_)) => Some(Compensation::Rollback),
            _ => None,
        },
    }
}

/// What a cut-off step is judged for: `resume` redoes what is not surely done; `abort` undoes
/// what may have been done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Resume,
    Abort,
}

/// Whether the cut-off step at `node` counts as done for `purpose`. `Err` carries why nobody
/// can tell: the operator must answer.
pub(crate) async fn counts_as_done(
    ctx: &Arc<RunContext>,
    recovered: &Recovered,
    node: NodeIx,
    purpose: Purpose,
) -> Result<bool, String> {
    if recovered.ended_well.contains(&node) {
        // A step armed behind it went on, which it does only once this one is done.
        return Ok(true);
    }
    if purpose == Purpose::Abort {
        // A backup was journaled just before the edit, and an idempotent step is safe to
        // undo whether or not it ran: both count as done.
        let idempotent = matches!(ctx.plan.node(node).work, Work::Step(rb, si) if ctx.runbook(rb).step(si).idempotent);
        if recovered.backups.contains_key(&node) || idempotent {
            return Ok(true);
        }
    }
    match judge(ctx, node).await {
        Doubt::Applied => Ok(true),
        Doubt::NotApplied => Ok(false),
        Doubt::Possibly => Ok(purpose == Purpose::Abort),
        Doubt::Unknown(_) if recovered.maybe_started.contains(&node) => Err(format!(
            "step `{}` was about to start when the machine stopped: whether it started is not known (its start is recorded without waiting for the disk, and the machine restarted since), and it is neither `idempotent` nor has a `check`",
            ctx.plan.node(node).name
        )),
        Doubt::Unknown(message) => Err(message),
    }
}
