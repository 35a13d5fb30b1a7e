//! A run read back from its journal and opened again as a session, for `resume`, `abort` and
//! `retire`: the plan rebuilt and checked against the journal, what the run knew masked again,
//! the outputs its templates read restored — and, between a run's phases, which phase it is
//! in: a run waiting for retire is continued by `retire` only.

use std::collections::BTreeSet;
use std::io::IsTerminal;

mod fleet;

use super::shared::{lock, sinks};
use super::{Failure, Global, RunFormat, checked_plan, open_library};
use crate::checked::{Library, RunbookIx, StepKind};
use crate::diagnostic::Problem;
use crate::exec::recover::{Recovered, RunPhase, Waiting, recover};
use crate::exec::session::{Session, SessionSpec};
use crate::exec::start::StartSnapshot;
use crate::exec::{Stage, StartState};
use crate::journal::{Journal, Record};
use crate::model::Phase;
use crate::plan::{Plan, PlanRequest, Work};
use crate::project::Project;
use crate::redact::Redactor;
use crate::state::StateDir;
use crate::steps::context::{ExecOptions, RunInfo};
use crate::steps::durable::{Durable, START_FILE};

/// Why a run is opened again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    Resume,
    Abort,
    /// `runbook retire`: the retire phase of a run waiting for it; `early` with `--now`
    /// before the due date.
    Retire {
        early: bool,
    },
}

pub(super) struct Reopened {
    pub session: Session,
    pub recovered: Recovered,
    /// Where the execution starts from: the steps done, skipped and settled, and its stage.
    pub start: StartState,
    _lock: crate::state::RunLock,
}

pub(super) fn reopen(
    global: &Global,
    run_id: &str,
    yes: bool,
    done: &[String],
    redactor: &Redactor,
    purpose: Purpose,
) -> Result<Reopened, Failure> {
    let (state, lock, recovered) = find_run(global, run_id)?;
    let retiring = between_phases(&recovered, run_id, purpose).map_err(invalid)?;
    let global = &fleet::as_started(global, &recovered.begun, run_id)?;
    let (project, library, broken) = open_library(global)?;
    fleet::check_touched_hosts(&project, &recovered, run_id)?;
    let begun = recovered.begun.clone();
    let plan = replan(&project, &library, broken, &begun, run_id)?;
    let done = awaited(&plan, &recovered, run_id, done).map_err(invalid)?;
    let journal = Journal::open(&state.journal_path(run_id), redactor)
        .map_err(|e| invalid(format!("cannot open the journal: {e}")))?;
    let durable = Durable::new(journal.clone(), state.clone(), run_id.to_string());
    durable.adopt_backups(
        recovered
            .backups
            .values()
            .filter_map(|(_, backup, _)| backup.clone()),
    );
    // A run that began with nothing to keep wrote no `start.json` (see `exec::start::begin`).
    let mut start: StartSnapshot = durable
        .load(START_FILE)
        .map_err(|e| invalid(format!("the run's pending inputs are gone: {e}")))?
        .unwrap_or_default();
    let mut hosts = None;
    if let Purpose::Retire { early } = purpose {
        let begun;
        (start, begun) = begin_retire(&project, &library, &plan, &durable, start, early, redactor)?;
        hosts = Some(begun);
    }
    let hosts = match hosts {
        Some(hosts) => hosts,
        None => crate::exec::session::fleet_hosts(&project, &plan)
            .map_err(|e| invalid(format!("cannot reach the hosts: {e}")))?,
    };
    let between = retiring.is_some();
    mask_what_the_run_knew(
        &project, &library, &plan, &start, &recovered, between, redactor,
    );
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
        retiring: retiring.clone(),
        hosts,
    })
    .map_err(|e| invalid(format!("cannot start the runtime: {e}")))?;
    let ctx = &session.ctx;
    session.block_on(fleet::remove_temp_leftovers(ctx, &recovered));
    for (node, outputs) in &recovered.outputs {
        ctx.set_outputs(*node, outputs.clone());
    }
    let start = StartState {
        completed: recovered.completed.clone(),
        skipped: recovered.skipped.clone(),
        settled: recovered.settled.clone(),
        stage: match retiring {
            Some(_) => Stage::Retire,
            None => Stage::first(&ctx.plan),
        },
    };
    Ok(Reopened {
        session,
        recovered,
        start,
        _lock: lock,
    })
}

fn invalid(message: String) -> Failure {
    Failure::Problems(vec![Problem::new("runbook::recover::state", message)])
}

/// The run, locked and read back from its journal; refused when it already ended. The state
/// folder is the config's, whatever the inventory: the run is found there first, and the
/// project is opened with the hosts the run started with only after.
fn find_run(
    global: &Global,
    run_id: &str,
) -> Result<(StateDir, crate::state::RunLock, Recovered), Failure> {
    let state = StateDir::new(
        &Project::open(&super::ProjectOptions {
            inventory: None,
            limit: None,
            ..super::project_options(global)
        })?
        .state_dir,
    );
    let lock = lock(&state, run_id, Some(run_id))?;
    let recovered = recover(&state, run_id).map_err(invalid)?;
    if recovered.ended {
        return Err(invalid(format!(
            "run `{run_id}` already ended; nothing to resume or abort"
        )));
    }
    Ok((state, lock, recovered))
}

/// The run's plan, built again from what its `Begin` record asked; refused when the runbooks
/// or the config's vars changed since, as the journal's nodes would no longer be the plan's.
fn replan(
    project: &Project,
    library: &Library,
    broken: Vec<crate::check::health::Broken>,
    begun: &crate::exec::recover::Begun,
    run_id: &str,
) -> Result<Plan, Failure> {
    let request = PlanRequest {
        runbook: begun.runbook.clone(),
        secret: begun.secret.clone(),
        inputs: begun.inputs.iter().cloned().collect(),
    };
    let plan = checked_plan(project, library, broken, &request)?;
    let names: Vec<String> = plan.nodes.iter().map(|n| n.name.clone()).collect();
    if names != begun.nodes {
        return Err(Failure::Problems(vec![Problem::new(
            "runbook::recover::state",
            format!(
                "the runbooks or the config changed since run `{run_id}` started, so its journal no longer matches the plan; restore them (e.g. from version control) to resume or abort"
            ),
        )]));
    }
    Ok(plan)
}

/// Which phase the run is in, as `purpose` needs it: a run waiting for retire is continued
/// by `retire` alone (its activate phase stays done: the new value is in use), and `retire`
/// continues nothing else. The waiting state a retire phase starts from, if it is one.
fn between_phases(
    recovered: &Recovered,
    run_id: &str,
    purpose: Purpose,
) -> Result<Option<Waiting>, String> {
    match (&recovered.phase, purpose) {
        (RunPhase::Waiting(waiting), Purpose::Resume | Purpose::Abort) => Err(format!(
            "run `{run_id}` is waiting for retire (due {}): its activate phase is done and stays done, since the new value is in use; `runbook retire {}` runs the retire phase (`--now` before the due date)",
            waiting.due,
            waiting.secrets.first().map_or("SECRET", String::as_str)
        )),
        (RunPhase::Waiting(waiting), Purpose::Retire { .. })
        | (RunPhase::Retiring(waiting), Purpose::Resume | Purpose::Abort) => {
            Ok(Some(waiting.clone()))
        }
        (RunPhase::Retiring(_), Purpose::Retire { .. }) => Err(format!(
            "the retire phase of run `{run_id}` was interrupted: `runbook resume {run_id}` finishes it, `runbook abort {run_id}` rolls it back"
        )),
        (RunPhase::Activating, Purpose::Retire { .. }) => {
            Err(format!("run `{run_id}` is not waiting for retire"))
        }
        (RunPhase::Activating, Purpose::Resume | Purpose::Abort) => Ok(None),
    }
}

/// Begins the retire phase on disk: the run active again (a kill from here on leaves it for
/// `resume` or `abort`), the secrets' values as they are now in `start.json`, then the
/// journal's `retiring` record. Returns the snapshot and the hosts preflight reached.
fn begin_retire(
    project: &Project,
    library: &Library,
    plan: &Plan,
    durable: &Durable,
    start: StartSnapshot,
    early: bool,
    redactor: &Redactor,
) -> Result<(StartSnapshot, crate::exec::session::Fleet), Failure> {
    let (currents, edited, hosts) =
        crate::exec::preflight::prepare_retire(project, library, plan, redactor)
            .map_err(Failure::Problems)?;
    crate::exec::start::remove_temp_leftovers(edited.iter(), Some(&durable.run_id));
    let state_failure =
        |e: String| super::shared::state_failure(format!("cannot begin the retire phase: {e}"));
    // The backups of the activate phase went with it; the retire phase keeps its own, so its
    // folder is marked live again. Marked active first, so the folder is never live unmarked
    // (a start that finds `runs/` as the last sweep left it examines only the marked run:
    // `exec::swept`).
    durable
        .state
        .set_active(&durable.run_id)
        .and_then(|()| durable.state.create_run(&durable.run_id))
        .map_err(|e| state_failure(e.to_string()))?;
    let start = StartSnapshot {
        currents: crate::exec::start::needed_currents(plan, library, &currents),
        ..start
    };
    durable
        .keep(START_FILE, &start)
        .map_err(|e| state_failure(e.to_string()))?;
    durable
        .journal
        .durable_blocking(&Record::Retiring {
            operator: crate::operator::operator(),
            early,
        })
        .map_err(state_failure)?;
    crate::failpoint::hit("phase", "after-retiring");
    Ok((start, hosts))
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
        .map(|n| plan.node(*n).name.as_str())
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
    between_phases: bool,
    redactor: &Redactor,
) {
    crate::exec::start::mask_library_values(project, library, redactor);
    // As the run itself did: an input declared secret is masked, others (an exposure
    // window, an access key ID the next instructions name) stay readable, and so do the
    // variables a secret declares `public`: they identify, they do not authenticate.
    let secret_input = |name: &str| {
        library.runbooks().any(|rb| {
            rb.inputs.get(name).is_some_and(|i| i.secret)
                || rb.steps.iter().any(|step| match &step.kind {
                    StepKind::Manual(manual) => manual
                        .input
                        .as_ref()
                        .is_some_and(|i| i.name == name && i.secret),
                    _ => false,
                })
        })
    };
    let public = |rb: RunbookIx, name: &str| {
        library
            .runbook(rb)
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
        // Between the phases, what an activate step kept is kept only because a retire step
        // reads it — the old password's hash, say — so it is masked whatever its kind: the
        // run that made it masked it as the value it was derived from, which this process
        // may never see.
        if let Work::Step(rb, si) = plan.node(*node).work
            && let step = library.runbook(rb).step(si)
            && ((between_phases && step.phase() == Phase::Activate)
                || match &step.kind {
                    StepKind::Generate(_) | StepKind::Env(_) => true,
                    StepKind::Manual(manual) => manual.input.as_ref().is_none_or(|i| i.secret),
                    _ => false,
                })
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
