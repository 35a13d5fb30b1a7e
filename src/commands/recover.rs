//! `runbook resume RUN_ID` and `runbook abort RUN_ID`: an interrupted run read back from its
//! journal, then finished or rolled back. A step that started but never recorded a result is
//! checked, not blindly re-run.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;

use super::run::{lock, sinks};
use super::{Failure, Format, Global, Outcome, checked_plan, open_library};
use crate::diagnostic::Problem;
use crate::exec::context::{ExecOptions, RunContext, RunInfo};
use crate::exec::durable::Durable;
use crate::exec::events::{Emitter, EventKind};
use crate::exec::recover::{Recovered, recover};
use crate::exec::session::{drive, finish, runtime};
use crate::exec::{Completed, RunResult, StartState, rolled_back};
use crate::exit;
use crate::journal::{Journal, Record};
use crate::model::{KindRef, Mode, Rollback};
use crate::plan::{PlanRequest, Work};
use crate::redact::Redactor;
use crate::state::StateDir;
use crate::steps::{Compensation, StepRun, read_hidden_line, run_exec};

struct Reopened {
    ctx: Arc<RunContext>,
    runtime: tokio::runtime::Runtime,
    cancel: tokio::sync::watch::Sender<bool>,
    recovered: Recovered,
    _lock: crate::state::RunLock,
}

fn reopen(
    global: &Global,
    run_id: &str,
    yes: bool,
    redactor: &Redactor,
) -> Result<Reopened, Failure> {
    let (project, library, broken) = open_library(global)?;
    let state = StateDir::new(&project.state_dir);
    let lock = lock(&state, run_id, Some(run_id))?;
    let invalid = |m: String| Failure::Problems(vec![Problem::new("runbook::recover::state", m)]);
    let recovered = recover(&state, run_id).map_err(invalid)?;
    if recovered.ended {
        return Err(invalid(format!(
            "run `{run_id}` already ended; nothing to resume or abort"
        )));
    }
    let begun = recovered.begun.clone();
    let request = PlanRequest {
        runbook: begun.runbook.clone(),
        secret: begun.secret.clone(),
        inputs: begun.inputs.iter().cloned().collect(),
    };
    let plan = checked_plan(&project, &library, broken, &request)?;
    let names: Vec<String> = plan.nodes.iter().map(|n| n.name.clone()).collect();
    if names != begun.nodes {
        return Err(invalid(format!(
            "the runbooks changed since run `{run_id}` started, so its journal no longer matches the plan; restore them (e.g. from version control) to resume or abort"
        )));
    }
    let journal = Journal::open(&state.journal_path(run_id), redactor)
        .map_err(|e| invalid(format!("cannot open the journal: {e}")))?;
    let durable = Durable {
        journal: journal.clone(),
        state: state.clone(),
        run_id: run_id.to_string(),
    };
    type Values = BTreeMap<String, String>;
    let (inputs, supplied, currents): (Values, Values, std::collections::HashMap<usize, Values>) =
        durable
            .load(crate::exec::durable::START_FILE)
            .map_err(|e| invalid(format!("the run's pending inputs are gone: {e}")))?;
    // Everything the run knew as secret is secret again before anything is shown.
    for value in inputs
        .values()
        .chain(supplied.values())
        .chain(currents.values().flat_map(|m| m.values()))
    {
        redactor.add(value);
    }
    for (node, outputs) in &recovered.outputs {
        if let Work::Step(rb, si) = plan.nodes[*node].work
            && matches!(
                library.runbooks[rb].value.steps[si].kind(),
                KindRef::Generate(_) | KindRef::Env(_) | KindRef::Manual(_)
            )
        {
            register_strings(redactor, outputs);
        }
    }
    let jobs = begun.jobs.max(1);
    let runtime = runtime(jobs).map_err(|e| invalid(format!("cannot start the runtime: {e}")))?;
    let (cancel, cancel_rx) = tokio::sync::watch::channel(false);
    let info = RunInfo {
        id: run_id.to_string(),
        started: begun.started.clone(),
        mode: plan.mode.as_str().to_string(),
        target: plan.target.clone(),
    };
    let emitter = Emitter::new(sinks(global, Format::Text, redactor, &journal), redactor);
    let interactive = std::io::stdin().is_terminal();
    let ctx = Arc::new(RunContext::new(
        Arc::new(project),
        Arc::new(library),
        Arc::new(plan),
        redactor.clone(),
        emitter,
        ExecOptions {
            jobs,
            yes: yes || begun.yes,
            interactive,
        },
        info,
        inputs,
        supplied,
        currents,
        cancel_rx,
        durable,
    ));
    for (node, outputs) in &recovered.outputs {
        if let Work::Step(rb, si) = ctx.plan.nodes[*node].work {
            ctx.set_outputs(rb, &ctx.runbook(rb).steps[si].id.value, outputs.clone());
        }
    }
    Ok(Reopened {
        ctx,
        runtime,
        cancel,
        recovered,
        _lock: lock,
    })
}

fn register_strings(redactor: &Redactor, value: &minijinja::Value) {
    if let Some(text) = value.as_str() {
        redactor.add(text);
    } else if let Ok(items) = value.try_iter() {
        for key in items {
            if let Ok(item) = value.get_item(&key) {
                register_strings(redactor, if item.is_undefined() { &key } else { &item });
            }
        }
    }
}

/// What a step that started but recorded no result did.
enum Doubt {
    Applied,
    NotApplied,
    /// Nobody can tell; the message says which step and why.
    Unknown(String),
}

async fn judge(ctx: &Arc<RunContext>, node: usize) -> Doubt {
    let plan_node = &ctx.plan.nodes[node];
    let Work::Step(rb, si) = plan_node.work else {
        return Doubt::NotApplied;
    };
    let run = StepRun {
        ctx: Arc::clone(ctx),
        rb,
        si,
        node,
        name: plan_node.name.clone(),
    };
    let step = run.step();
    match step.kind() {
        KindRef::Env(spec) => {
            let Ok(path) = crate::steps::env_target(&run, spec.file.as_ref()) else {
                return Doubt::NotApplied;
            };
            let Ok(bytes) = std::fs::read(&path) else {
                return Doubt::NotApplied;
            };
            let Ok(file) = crate::envfile::EnvFile::parse(&bytes) else {
                return Doubt::NotApplied;
            };
            let mut applied = true;
            for (key, template) in &spec.set {
                match ctx.render(rb, template) {
                    Ok(expected) => applied &= file.get(key).as_deref() == Some(expected.as_str()),
                    Err(_) => applied = false,
                }
            }
            if applied {
                Doubt::Applied
            } else {
                Doubt::NotApplied
            }
        }
        KindRef::File(spec) => {
            let path = ctx
                .project
                .resolve(&ctx.render(rb, &spec.path).unwrap_or_default());
            let expected = ctx.render(rb, &spec.content).unwrap_or_default();
            if std::fs::read(path).ok().as_deref() == Some(expected.as_bytes()) {
                Doubt::Applied
            } else {
                Doubt::NotApplied
            }
        }
        KindRef::Exec(_) if step.idempotent => Doubt::NotApplied,
        KindRef::Exec(_) => match &step.check {
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

/// The compensation of a step found in effect.
fn compensation_of(ctx: &RunContext, recovered: &Recovered, node: usize) -> Option<Compensation> {
    let plan_node = &ctx.plan.nodes[node];
    if let Some((path, backup, mode)) = recovered.backups.get(&node) {
        let record = crate::journal::CompensationRecord::Restore {
            path: path.clone(),
            backup: backup.clone(),
            mode: *mode,
        };
        return crate::exec::recover::rebuild(&ctx.durable.state, &ctx.run.id, record).ok();
    }
    match &plan_node.work {
        Work::Restart { services, .. } => Some(Compensation::RestartAgain {
            services: services.clone(),
        }),
        Work::Step(rb, si) => match ctx.runbook(*rb).steps[*si].rollback {
            Some(Rollback::Body(_)) => Some(Compensation::Rollback),
            _ => None,
        },
    }
}

pub fn resume(global: &Global, run_id: &str, yes: bool, redactor: &Redactor) -> Outcome {
    let reopened = reopen(global, run_id, yes, redactor)?;
    let Reopened {
        ctx,
        runtime,
        cancel,
        recovered,
        ..
    } = reopened;
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
    let mut start = StartState {
        completed: recovered.completed.clone(),
        skipped: recovered.skipped.clone(),
    };
    for &node in &recovered.in_doubt {
        let applied = match runtime.block_on(judge(&ctx, node)) {
            Doubt::Applied => true,
            Doubt::NotApplied => false,
            Doubt::Unknown(message) => ask_operator(&ctx, &message)?,
        };
        if applied {
            let compensation = compensation_of(&ctx, &recovered, node);
            let name = ctx.plan.nodes[node].name.clone();
            runtime
                .block_on(
                    ctx.durable
                        .done(node, &name, false, None, false, compensation.as_ref()),
                )
                .map_err(|e| Failure::Exit(exit::NEEDS_OPERATOR, e.message))?;
            start.completed.push(Completed { node, compensation });
        }
    }
    ctx.emitter.emit(EventKind::Warning {
        step: None,
        message: format!(
            "resuming run {run_id}: {} of {} steps already done",
            start.completed.len() + start.skipped.len(),
            ctx.plan.nodes.len()
        ),
    });
    let result = drive(&runtime, &ctx, cancel, start);
    finish(&ctx, &result, false);
    Ok(result.exit_code)
}

pub fn abort(global: &Global, run_id: &str, yes: bool, redactor: &Redactor) -> Outcome {
    let Reopened {
        ctx,
        runtime,
        recovered,
        ..
    } = reopen(global, run_id, yes, redactor)?;
    ctx.durable.journal.record(&Record::Note {
        text: "abort".into(),
        detail: BTreeMap::new(),
    });
    let mut completed: Vec<Completed> = recovered.completed.clone();
    for &node in &recovered.in_doubt {
        let idempotent = matches!(ctx.plan.nodes[node].work, Work::Step(rb, si) if ctx.runbook(rb).steps[si].idempotent);
        let applied = recovered.backups.contains_key(&node)
            || idempotent
            || match runtime.block_on(judge(&ctx, node)) {
                Doubt::Applied => true,
                Doubt::NotApplied => false,
                Doubt::Unknown(message) => ask_operator(&ctx, &message)?,
            };
        if applied {
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
            outcome: crate::exec::events::Outcome::RolledBack,
            exit_code: exit::DONE,
            summary: format!(
                "{cause}; incident run: nothing was restored (compromised values are never put back)"
            ),
            in_effect: completed.iter().map(|c| c.node).collect(),
        }
    } else {
        let mut result = runtime.block_on(rolled_back(&ctx, &completed, &cause));
        if result.exit_code == exit::FAILED {
            result.exit_code = exit::DONE;
        }
        result
    };
    finish(&ctx, &result, true);
    Ok(result.exit_code)
}
