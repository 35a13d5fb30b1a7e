//! `runbook run RUNBOOK`: preflight, the lock, the run begun on disk, then the plan executed
//! and shown live or as JSON lines.

use std::io::IsTerminal;

use super::shared::{lock, sinks, state_failure};
use super::{Global, Outcome, RunFormat, RunOptions, open_planned, write_stdout};
use crate::exec::preflight::{Prepared, Presence, prepare};
use crate::exec::session::{Session, SessionSpec};
use crate::exec::start::{StartSnapshot, begin, needed_currents};
use crate::exec::{Stage, StartState};
use crate::journal::Record;
use crate::plan::Plan;
use crate::redact::Redactor;
use crate::state::StateDir;
use crate::steps::context::{ExecOptions, RunInfo};

/// The flags of `run` beyond what `plan` takes.
#[derive(Debug, Clone)]
pub(crate) struct RunFlags {
    pub dry_run: bool,
    pub yes: bool,
    pub jobs: Option<usize>,
    pub format: RunFormat,
}

pub(super) fn run(
    global: &Global,
    options: &RunOptions,
    flags: &RunFlags,
    redactor: &Redactor,
) -> Outcome {
    let request = super::plan::request(options);
    let (project, library, plan) = open_planned(global, &request)?;
    refuse_while_retire_pending(&project, &library, &plan)?;
    let interactive = std::io::stdin().is_terminal();
    if !interactive && !flags.yes && !flags.dry_run {
        return Err(unattended(&options.runbook));
    }
    let presence = Presence {
        interactive,
        yes: flags.yes,
        dry_run: flags.dry_run,
    };
    let prepared = prepare(
        &project,
        &library,
        &plan,
        &options.inputs,
        presence,
        redactor,
    )
    .map_err(super::Failure::Problems)?;
    if flags.dry_run {
        let shown = DryRun {
            project: &project,
            library: &library,
            plan: &plan,
            given: &request.inputs,
            prepared: &prepared,
        };
        return shown.show(flags.format, redactor);
    }
    if interactive && !flags.yes && !proceed(&plan, &library, redactor)? {
        return Err(super::Failure::Exit(
            crate::exit::INVALID,
            "cancelled by the operator; nothing was done".into(),
        ));
    }
    let run = new_run(&plan);
    let state = StateDir::new(&project.state_dir);
    let _lock = lock(&state, &run.id, None)?;
    // Again holding the lock: taking it settles a run killed as its activate phase ended.
    refuse_while_retire_pending(&project, &library, &plan)?;
    crate::exec::start::remove_temp_leftovers(prepared.edited.iter(), None);
    let jobs = jobs(flags, &plan);
    let record = begin_record(&run, options, &plan, flags, jobs, global);
    let start = StartSnapshot {
        currents: needed_currents(&plan, &library, &prepared.currents),
        inputs: prepared.inputs,
        supplied: prepared.supplied,
    };
    let durable = begin(&state, &run.id, &record, &start, redactor).map_err(state_failure)?;
    let journal = durable.journal.clone();
    let session = Session::open(SessionSpec {
        sinks: sinks(global, flags.format, redactor, &journal),
        project,
        library,
        plan,
        redactor: redactor.clone(),
        options: ExecOptions {
            jobs,
            yes: flags.yes,
            done: std::collections::BTreeSet::new(),
            interactive,
        },
        run,
        start,
        durable,
        retiring: None,
        hosts: prepared.hosts,
    })
    .map_err(|e| state_failure(format!("cannot start the runtime: {e}")))?;
    session.ctx.parsed_env.keep(prepared.parsed);
    Ok(execute(session))
}

/// How many steps may run at once: `--jobs`, else one per core. A plan of one node runs one
/// at most, and is not worth asking how many cores there are: std reads three cgroup files
/// for that, 60 µs of a 4.5 ms one-step run here.
fn jobs(flags: &RunFlags, plan: &Plan) -> usize {
    match flags.jobs {
        Some(jobs) => jobs.max(1),
        None if plan.indexed_nodes().nth(1).is_none() => 1,
        None => crate::project::cores().max(1),
    }
}

/// A new run executes from its first stage: the activate phase when it overlaps, else all.
fn execute(session: Session) -> u8 {
    let stage = Stage::first(&session.ctx.plan);
    session.announce(stage);
    session.execute(StartState {
        stage,
        ..StartState::default()
    })
}

/// A secret whose retire is pending has its previous value still verifying: rotating it again
/// would make the new value "previous" and drop the one still in use elsewhere, so a new
/// rotation (an incident one too) waits for `runbook retire` (exit 4, nothing done).
fn refuse_while_retire_pending(
    project: &crate::project::Project,
    library: &crate::checked::Library,
    plan: &Plan,
) -> Result<(), super::Failure> {
    let secrets = plan.secrets(library);
    if secrets.is_empty() {
        return Ok(());
    }
    let state = StateDir::new(&project.state_dir);
    let rotations = crate::audit::rotations(&state);
    for secret in secrets {
        let pending = rotations
            .get(secret)
            .and_then(|r| r.waiting_for_retire.clone())
            .or_else(|| crate::exec::phases::unsettled(&state, secret));
        if let Some(pending) = pending
            && crate::exec::phases::is_waiting(&state, &pending.run_id)
        {
            return Err(super::Failure::Exit(
                crate::exit::LOCKED,
                format!(
                    "secret `{secret}` is waiting for retire (run {}, due {}): its previous value still verifies, so it cannot rotate again yet; `runbook retire {secret}` first (`--now` before the due date); nothing was done",
                    pending.run_id, pending.retire_due
                ),
            ));
        }
    }
    Ok(())
}

/// Off a terminal, `run` needs `--yes` (or `--dry-run`): nobody could answer its question.
fn unattended(runbook: &str) -> super::Failure {
    super::Failure::Exit(
        crate::exit::INVALID,
        format!(
            "`runbook run {runbook}` asks before acting and there is no terminal to ask: pass `--yes` to run unattended (a manual step then waits for the operator: `runbook resume RUN --done STEP`), or `--dry-run` to see what it would do; nothing was done"
        ),
    )
}

/// What `--dry-run` shows: the plan as preflight found it, and the edits it would make.
struct DryRun<'a> {
    project: &'a crate::project::Project,
    library: &'a crate::checked::Library,
    plan: &'a Plan,
    /// The `--input` values given.
    given: &'a std::collections::BTreeMap<String, String>,
    prepared: &'a Prepared,
}

impl DryRun<'_> {
    fn show(&self, format: RunFormat, redactor: &Redactor) -> Outcome {
        let preflight = crate::report::dry_run::Preflight {
            active: &self.prepared.active,
            currents: &self.prepared.currents,
        };
        let show = match format {
            RunFormat::Text => crate::report::dry_run::render,
            RunFormat::Json => crate::report::dry_run::json,
        };
        let text = show(
            self.project,
            self.library,
            self.plan,
            self.given,
            &preflight,
            redactor,
        );
        write_stdout(text.as_bytes())
    }
}

/// A new run's identity: when it starts (to the millisecond), and an id made of that time
/// and a random suffix.
fn new_run(plan: &Plan) -> RunInfo {
    let now = jiff::Timestamp::now();
    let started = now.round(jiff::Unit::Millisecond).unwrap_or(now);
    let run_id = format!("{}-{}", started.strftime("%Y%m%dT%H%M%SZ"), short_random());
    RunInfo::new(run_id, started.to_string(), plan)
}

/// At a terminal, before anything acts: the plan's summary and a question. `yes` goes on,
/// `no` (or a closed terminal) cancels, anything else asks again.
fn proceed(
    plan: &Plan,
    library: &crate::checked::Library,
    redactor: &Redactor,
) -> Result<bool, super::Failure> {
    let summary = redactor.redact(&crate::report::run_summary::run_summary(plan, library));
    let mut prompt = format!("{summary}Proceed? Type `yes` to run, `no` to cancel: ");
    loop {
        match crate::terminal::read_hidden_line(&prompt, false) {
            Ok(answer) => match answer.trim().to_ascii_lowercase().as_str() {
                "yes" => return Ok(true),
                "no" => return Ok(false),
                _ => prompt = "Unknown answer. Type `yes` to run, `no` to cancel: ".into(),
            },
            Err(_) => return Ok(false),
        }
    }
}

/// The journal's first record: enough to plan the same run again on `resume`.
fn begin_record(
    run: &RunInfo,
    options: &RunOptions,
    plan: &Plan,
    flags: &RunFlags,
    jobs: usize,
    global: &Global,
) -> Record {
    Record::Begin {
        run_id: run.id.clone(),
        runbook: options.runbook.clone(),
        secret: options.secret.clone(),
        inputs: super::plan::request(options).inputs.into_iter().collect(),
        nodes: plan.nodes.iter().map(|n| n.name.clone()).collect(),
        mode: run.mode.clone(),
        started: run.started.clone(),
        operator: crate::operator::operator(),
        yes: flags.yes,
        jobs,
        // Absolute, so that `resume` from another directory reads the same file.
        inventory: global
            .inventory
            .as_ref()
            .map(|path| std::path::absolute(path).unwrap_or_else(|_| path.clone())),
        limit: global.limit.clone(),
        vars: Some(global.vars.clone()),
    }
}

fn short_random() -> String {
    let mut bytes = [0u8; 3];
    let _ = rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut bytes);
    hex::encode(bytes)
}
