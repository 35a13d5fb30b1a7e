//! `runbook resume RUN_ID` and `runbook abort RUN_ID`: an interrupted run read back from its
//! journal, then finished or rolled back. A step that started but never recorded a result is
//! checked, not blindly re-run.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::sync::Arc;

mod fleet;

use super::shared::{lock, sinks};
use super::{Failure, Global, Outcome, RunFormat, checked_plan, open_library};
use crate::diagnostic::Problem;
use crate::events::EventKind;
use crate::exec::doubt::{Purpose, compensation_of, counts_as_done};
use crate::exec::recover::{Recovered, recover};
use crate::exec::session::{Session, SessionSpec};
use crate::exec::start::StartSnapshot;
use crate::exec::{Completed, RunResult, StartState, rolled_back};
use crate::exit;
use crate::journal::{Journal, Record};
use crate::model::{KindRef, Mode};
use crate::plan::{Plan, PlanRequest, Work};
use crate::project::{Library, Project};
use crate::redact::Redactor;
use crate::state::StateDir;
use crate::steps::context::{ExecOptions, RunContext, RunInfo};
use crate::steps::durable::{Durable, START_FILE};
use crate::terminal::read_hidden_line;

struct Reopened {
    session: Session,
    recovered: Recovered,
    _lock: crate::state::RunLock,
}

fn reopen(
    global: &Global,
    run_id: &str,
    yes: bool,
    done: &[String],
    redactor: &Redactor,
) -> Result<Reopened, Failure> {
    // The state folder is the config's, whatever the inventory: find the run there first,
    // then open the project with the hosts the run started with.
    let state = StateDir::new(
        &Project::open(&super::ProjectOptions {
            inventory: None,
            limit: None,
            ..super::project_options(global)
        })?
        .state_dir,
    );
    let lock = lock(&state, run_id, Some(run_id))?;
    let invalid = |m: String| Failure::Problems(vec![Problem::new("runbook::recover::state", m)]);
    let recovered = recover(&state, run_id).map_err(invalid)?;
    if recovered.ended {
        return Err(invalid(format!(
            "run `{run_id}` already ended; nothing to resume or abort"
        )));
    }
    let global = &fleet::as_started(global, &recovered.begun, run_id)?;
    let (project, library, broken) = open_library(global)?;
    fleet::check_touched_hosts(&project, &recovered, run_id)?;
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
    let done = awaited(&plan, &recovered, run_id, done).map_err(invalid)?;
    let journal = Journal::open(&state.journal_path(run_id), redactor)
        .map_err(|e| invalid(format!("cannot open the journal: {e}")))?;
    let durable = Durable {
        journal: journal.clone(),
        state: state.clone(),
        run_id: run_id.to_string(),
    };
    let start: StartSnapshot = durable
        .load(START_FILE)
        .map_err(|e| invalid(format!("the run's pending inputs are gone: {e}")))?;
    mask_what_the_run_knew(&project, &library, &plan, &start, &recovered, redactor);
    let run = RunInfo::new(run_id.to_string(), begun.started.clone(), &plan);
    let interactive = std::io::stdin().is_terminal();
    let session = Session::open(SessionSpec {
        sinks: sinks(global, RunFormat::Text, redactor, &journal),
        project,
        library,
        plan,
        redactor: redactor.clone(),
        options: ExecOptions {
            jobs: begun.jobs.max(1),
            yes: yes || begun.yes,
            done,
            interactive,
        },
        run,
        start,
        durable,
    })
    .map_err(|e| invalid(format!("cannot start the runtime: {e}")))?;
    let ctx = &session.ctx;
    session.block_on(fleet::remove_temp_leftovers(ctx, &recovered));
    for (node, outputs) in &recovered.outputs {
        ctx.set_outputs(*node, outputs.clone());
    }
    Ok(Reopened {
        session,
        recovered,
        _lock: lock,
    })
}

/// The plan nodes `--done` names: each must be a manual step the run is awaiting, so the
/// operator answers only what the journal shows is asked, never a step ahead of time.
fn awaited(
    plan: &Plan,
    recovered: &Recovered,
    run_id: &str,
    done: &[String],
) -> Result<BTreeSet<String>, String> {
    let waiting: Vec<&str> = recovered
        .awaiting
        .iter()
        .map(|n| plan.nodes[*n].name.as_str())
        .collect();
    let mut names = BTreeSet::new();
    for asked in done {
        let matches: Vec<&str> = waiting
            .iter()
            .copied()
            .filter(|n| n == asked || n.rsplit('/').next() == Some(asked.as_str()))
            .collect();
        match matches.as_slice() {
            [one] => {
                names.insert((*one).to_string());
            }
            _ => {
                let list = if waiting.is_empty() {
                    "no step".to_string()
                } else {
                    waiting.join(", ")
                };
                return Err(format!(
                    "run `{run_id}` is not awaiting `{asked}` (it awaits {list}); `--done` only answers a step the run stopped at, nothing was done"
                ));
            }
        }
    }
    Ok(names)
}

/// Everything the run knew as secret is secret again before anything is shown, and so is
/// every other value of the library's secrets, as the files hold them now.
fn mask_what_the_run_knew(
    project: &Project,
    library: &Library,
    plan: &Plan,
    start: &StartSnapshot,
    recovered: &Recovered,
    redactor: &Redactor,
) {
    crate::exec::start::mask_library_values(project, library, redactor);
    // As the run itself did: an input declared secret is masked, others (an exposure
    // window, an access key ID the next instructions name) stay readable, and so do the
    // variables a secret declares `public`: they identify, they do not authenticate.
    let secret_input = |name: &str| {
        library.runbooks.iter().any(|rb| {
            rb.value.inputs.get(name).is_some_and(|i| i.secret)
                || rb.value.steps.iter().any(|step| match step.kind() {
                    KindRef::Manual(manual) => manual
                        .input
                        .as_ref()
                        .is_some_and(|i| i.name == name && i.secret),
                    _ => false,
                })
        })
    };
    let public = |rb: usize, name: &str| {
        library.runbooks[rb]
            .value
            .secret
            .as_ref()
            .is_some_and(|s| s.public.iter().any(|p| p == name))
    };
    let values = start
        .inputs
        .iter()
        .chain(&start.supplied)
        .filter(|(name, _)| secret_input(name))
        .map(|(_, v)| v);
    let currents = start.currents.iter().flat_map(|(rb, values)| {
        values
            .iter()
            .filter(|(name, _)| !public(*rb, name))
            .map(|(_, v)| v)
    });
    for value in values.chain(currents) {
        redactor.add(value);
    }
    for (node, outputs) in &recovered.outputs {
        // A manual step's input is secret unless declared otherwise (an access key ID that
        // the next instructions name must stay readable when a run resumes).
        if let Work::Step(rb, si) = plan.nodes[*node].work
            && match library.runbooks[rb].value.steps[si].kind() {
                KindRef::Generate(_) | KindRef::Env(_) => true,
                KindRef::Manual(manual) => manual.input.as_ref().is_none_or(|i| i.secret),
                _ => false,
            }
        {
            register_strings(redactor, outputs);
        }
    }
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

pub(super) fn resume(
    global: &Global,
    run_id: &str,
    yes: bool,
    done: &[String],
    redactor: &Redactor,
) -> Outcome {
    let Reopened {
        session, recovered, ..
    } = reopen(global, run_id, yes, done, redactor)?;
    let ctx = Arc::clone(&session.ctx);
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
        let judged = session.block_on(counts_as_done(&ctx, &recovered, node, Purpose::Resume));
        if judged.or_else(|message| ask_operator(&ctx, &message))? {
            let compensation = compensation_of(&ctx, &recovered, node);
            let name = ctx.plan.nodes[node].name.clone();
            session
                .block_on(
                    ctx.durable
                        .done(node, &name, false, None, false, compensation.as_ref()),
                )
                .map_err(|e| Failure::Exit(exit::NEEDS_OPERATOR, e.to_string()))?;
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
    Ok(session.execute(start))
}

pub(super) fn abort(global: &Global, run_id: &str, yes: bool, redactor: &Redactor) -> Outcome {
    let Reopened {
        session, recovered, ..
    } = reopen(global, run_id, yes, &[], redactor)?;
    let ctx = Arc::clone(&session.ctx);
    ctx.durable.journal.record(&Record::Note {
        text: "abort".into(),
        detail: BTreeMap::new(),
    });
    let mut completed: Vec<Completed> = recovered.completed.clone();
    for &node in &recovered.in_doubt {
        let judged = session.block_on(counts_as_done(&ctx, &recovered, node, Purpose::Abort));
        if judged.or_else(|message| ask_operator(&ctx, &message))? {
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
            outcome: crate::events::Outcome::RolledBack,
            exit_code: exit::DONE,
            summary: format!(
                "{cause}; incident run: nothing was restored (compromised values are never put back)"
            ),
            in_effect: completed.iter().map(|c| c.node).collect(),
        }
    } else {
        let mut result = session.block_on(rolled_back(&ctx, &completed, &cause));
        if result.exit_code == exit::FAILED {
            result.exit_code = exit::DONE;
            // Abort restores and restarts but runs no verify: it says what it did, not that
            // the services are healthy.
            result.summary = result.summary.replace(
                crate::exec::AS_BEFORE,
                "; the services' health was not checked (abort runs no verify step)",
            );
        }
        result
    };
    Ok(session.end_abort(&result))
}
