//! `runbook run RUNBOOK`: preflight, then the plan executed, shown live or as JSON lines.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Failure, Format, Global, Outcome, RunOptions, open_checked, write_stdout};
use crate::diagnostic::Problem;
use crate::exec::context::{ExecOptions, RunContext, RunInfo};
use crate::exec::events::{Emitter, EventKind, EventSink};
use crate::exec::execute_plan;
use crate::exec::preflight::prepare;
use crate::plan::build;
use crate::redact::Redactor;
use crate::report::diagnostics::use_color;
use crate::report::live::{JsonLines, TextView, TraceSink};

/// The flags of `run` beyond what `plan` takes.
#[derive(Debug, Clone)]
pub struct RunFlags {
    pub dry_run: bool,
    pub yes: bool,
    pub jobs: Option<usize>,
    pub format: Format,
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
        let text = crate::report::dry_run::render(&project, &library, &plan, redactor);
        return write_stdout(text.as_bytes());
    }
    crate::state::ensure_dir(&project.state_dir).map_err(|e| {
        Problem::new(
            "runbook::state::io",
            format!("cannot create the state directory: {e}"),
        )
    })?;
    let jobs = flags
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
        .max(1);
    let terminal = std::io::stdout().is_terminal();
    let mut sinks: Vec<Arc<dyn EventSink>> = vec![Arc::new(TraceSink)];
    match flags.format {
        Format::Json => sinks.push(Arc::new(JsonLines::new(redactor.clone()))),
        _ => sinks.push(Arc::new(TextView::new(
            redactor.clone(),
            terminal,
            use_color(global.color, terminal),
            global.quiet,
        ))),
    }
    let emitter = Emitter::new(sinks);
    let started = jiff::Timestamp::now();
    let run_id = format!("{}-{}", started.strftime("%Y%m%dT%H%M%SZ"), short_random());
    let secrets: Vec<String> = plan
        .secrets(&library)
        .into_iter()
        .map(str::to_string)
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(jobs.clamp(1, 4))
        .enable_all()
        .build()
        .map_err(|e| {
            Problem::new(
                "runbook::run::runtime",
                format!("cannot start the runtime: {e}"),
            )
        })?;
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let info = RunInfo {
        id: run_id.clone(),
        started: started.to_string(),
        mode: plan.mode.as_str().to_string(),
        target: plan.target.clone(),
    };
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
        prepared.currents,
        cancel_rx,
    ));
    emitter.emit(EventKind::RunStarted {
        run_id,
        runbook: ctx.runbook(ctx.plan.root).name.value.clone(),
        mode: ctx.plan.mode.as_str().into(),
        secrets,
        steps: ctx.plan.nodes.len(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let result = runtime.block_on(async {
        let watcher = {
            let stop = Arc::clone(&stop);
            let emitter = emitter.clone();
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
                    let _ = cancel_tx.send(true);
                }
            })
        };
        let result = execute_plan(Arc::clone(&ctx), stop).await;
        watcher.abort();
        result
    });
    emitter.emit(EventKind::RunFinished {
        outcome: result.outcome,
        exit_code: result.exit_code,
        summary: result.summary,
    });
    Ok(result.exit_code)
}

fn short_random() -> String {
    let mut bytes = [0u8; 3];
    let _ = rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut bytes);
    hex::encode(bytes)
}
