//! `runbook run RUNBOOK`: preflight, the lock, the journal, then the plan executed and shown
//! live or as JSON lines.

use std::io::IsTerminal;
use std::sync::Arc;

use super::{Failure, Format, Global, Outcome, RunOptions, open_checked, write_stdout};
use crate::diagnostic::Problem;
use crate::exec::StartState;
use crate::exec::context::{ExecOptions, RunContext, RunInfo};
use crate::exec::durable::Durable;
use crate::exec::events::{Emitter, EventKind, EventSink};
use crate::exec::preflight::prepare;
use crate::exec::session::{drive, finish, runtime};
use crate::exit;
use crate::journal::{Journal, Record};
use crate::plan::build;
use crate::redact::Redactor;
use crate::report::diagnostics::use_color;
use crate::report::live::{JsonLines, TextView, TraceSink};
use crate::state::{LockError, RunLock, StateDir};

/// The flags of `run` beyond what `plan` takes.
#[derive(Debug, Clone)]
pub struct RunFlags {
    pub dry_run: bool,
    pub yes: bool,
    pub jobs: Option<usize>,
    pub format: Format,
}

/// Takes the run lock and refuses to start over an unfinished run (exit 4).
pub fn lock(state: &StateDir, run_id: &str, resuming: Option<&str>) -> Result<RunLock, Failure> {
    let lock = RunLock::acquire(state, run_id).map_err(|e| match e {
        LockError::Held(holder) => Failure::Exit(
            exit::LOCKED,
            format!("another run holds the lock ({holder}); wait for it to end"),
        ),
        LockError::Io(e) => Failure::Problems(vec![Problem::new(
            "runbook::state::io",
            format!("cannot take the run lock: {e}"),
        )]),
    })?;
    for message in crate::exec::start::sweep_orphans(state) {
        tracing::warn!("{message}");
    }
    if let Some(active) = state.active_run()
        && Some(active.as_str()) != resuming
    {
        return Err(Failure::Exit(
            exit::LOCKED,
            format!(
                "run {active} did not finish: `runbook resume {active}` to finish it, or `runbook abort {active}` to roll it back"
            ),
        ));
    }
    Ok(lock)
}

/// The sinks a run reports to: the journal, tracing, and the view the operator asked for.
pub fn sinks(
    global: &Global,
    format: Format,
    redactor: &Redactor,
    journal: &Journal,
) -> Vec<Arc<dyn EventSink>> {
    let terminal = std::io::stdout().is_terminal();
    let mut sinks: Vec<Arc<dyn EventSink>> = vec![Arc::new(journal.clone()), Arc::new(TraceSink)];
    match format {
        Format::Json => sinks.push(Arc::new(JsonLines)),
        _ => sinks.push(Arc::new(TextView::new(
            redactor.clone(),
            terminal,
            use_color(global.color, terminal),
            global.quiet,
        ))),
    }
    sinks
}

pub fn run(
    global: &Global,
    options: &RunOptions,
    flags: &RunFlags,
    redactor: &Redactor,
) -> Outcome {
    let (project, library) = open_checked(global)?;
    let plan = build(&project, &library, &super::plan::request(options))?;
    if flags.format != Format::Text && flags.format != Format::Json {
        return Err(Problem::new("runbook::usage::format", "`run` prints text or json").into());
    }
    let interactive = std::io::stdin().is_terminal();
    let prepared = prepare(
        &project,
        &library,
        &plan,
        &options.inputs,
        interactive,
        flags.yes,
        redactor,
    )
    .map_err(Failure::Problems)?;
    if flags.dry_run {
        let given = super::plan::request(options).inputs;
        let text = crate::report::dry_run::render(&project, &library, &plan, &given, redactor);
        return write_stdout(text.as_bytes());
    }
    let now = jiff::Timestamp::now();
    let started = now.round(jiff::Unit::Millisecond).unwrap_or(now);
    let run_id = format!("{}-{}", started.strftime("%Y%m%dT%H%M%SZ"), short_random());
    let state = StateDir::new(&project.state_dir);
    let _lock = lock(&state, &run_id, None)?;
    let io = |e: std::io::Error| {
        Failure::Problems(vec![Problem::new(
            "runbook::state::io",
            format!("cannot record the run: {e}"),
        )])
    };
    // Marked active right after its folder exists and before anything else is written: from
    // its first secret on disk, the run is one that the next start finds (see `exec::start`).
    state.create_run(&run_id).map_err(io)?;
    crate::failpoint::hit("start", "after-folder");
    if let Err(e) = state.set_active(&run_id) {
        crate::exec::start::abandon(&state, &run_id);
        return Err(io(e));
    }
    crate::failpoint::hit("start", "after-active");
    let jobs = flags
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
        .max(1);
    let first = Record::Begin {
        run_id: run_id.clone(),
        runbook: options.runbook.clone(),
        secret: options.secret.clone(),
        inputs: super::plan::request(options).inputs.into_iter().collect(),
        nodes: plan.nodes.iter().map(|n| n.name.clone()).collect(),
        mode: plan.mode.as_str().into(),
        started: started.to_string(),
        operator: crate::steps::operator(),
        yes: flags.yes,
        jobs,
    };
    let begun = begin(&state, &run_id, &first, redactor);
    let (journal, durable) = match begun {
        Ok(begun) => begun,
        Err(e) => {
            crate::exec::start::abandon(&state, &run_id);
            return Err(e);
        }
    };
    // One file (one fsync) for everything secret the run starts from: inputs entered now,
    // values supplied for manual steps, and the current values of the secrets it reads.
    let currents = crate::exec::start::needed_currents(&plan, &library, &prepared.currents);
    let kept = durable.keep(
        crate::exec::durable::START_FILE,
        &(&prepared.inputs, &prepared.supplied, &currents),
    );
    if let Err(e) = kept {
        crate::exec::start::abandon(&state, &run_id);
        return Err(io(e));
    }
    let emitter = Emitter::new(sinks(global, flags.format, redactor, &journal), redactor);
    let runtime = runtime(jobs).map_err(io)?;
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let info = RunInfo {
        id: run_id.clone(),
        started: started.to_string(),
        mode: plan.mode.as_str().to_string(),
        target: plan.target.clone(),
    };
    let secrets: Vec<String> = plan
        .secrets(&library)
        .into_iter()
        .map(str::to_string)
        .collect();
    let ctx = Arc::new(RunContext::new(
        Arc::new(project),
        Arc::new(library),
        Arc::new(plan),
        redactor.clone(),
        emitter.clone(),
        ExecOptions {
            jobs,
            yes: flags.yes,
            interactive,
        },
        info,
        prepared.inputs,
        prepared.supplied,
        currents,
        cancel_rx,
        durable,
    ));
    emitter.emit(EventKind::RunStarted {
        run_id,
        runbook: ctx.runbook(ctx.plan.root).name.value.clone(),
        mode: ctx.plan.mode.as_str().into(),
        secrets,
        steps: ctx.plan.nodes.len(),
    });
    let result = drive(&runtime, &ctx, cancel_tx, StartState::default());
    finish(&ctx, &result, false);
    Ok(result.exit_code)
}

/// Opens the journal and makes its first record durable: if that fails, nothing runs.
fn begin(
    state: &StateDir,
    run_id: &str,
    first: &Record,
    redactor: &Redactor,
) -> Result<(Journal, Durable), Failure> {
    let problem = |e: String| Failure::Problems(vec![Problem::new("runbook::state::io", e)]);
    let journal = Journal::open(&state.journal_path(run_id), redactor)
        .map_err(|e| problem(format!("cannot record the run: {e}")))?;
    journal.durable_blocking(first).map_err(problem)?;
    let durable = Durable {
        journal: journal.clone(),
        state: state.clone(),
        run_id: run_id.to_string(),
    };
    Ok((journal, durable))
}

fn short_random() -> String {
    let mut bytes = [0u8; 3];
    let _ = rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut bytes);
    hex::encode(bytes)
}
