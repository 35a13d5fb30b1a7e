//! What `run`, `resume` and `abort` share before the engine takes over: the run lock, the
//! sinks the operator asked for, and the failure a state directory that cannot be written is.

use std::io::IsTerminal;
use std::sync::Arc;

use super::{Failure, Global, RunFormat};
use crate::diagnostic::Problem;
use crate::events::EventSink;
use crate::exit;
use crate::journal::Journal;
use crate::redact::Redactor;
use crate::report::diagnostics::use_color;
use crate::report::live::{JsonLines, TextView, TraceSink};
use crate::state::{LockError, RunLock, StateDir};

/// Takes the run lock and refuses to start over an unfinished run (exit 4).
pub(super) fn lock(
    state: &StateDir,
    run_id: &str,
    resuming: Option<&str>,
) -> Result<RunLock, Failure> {
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
    for message in crate::exec::sweep::sweep_orphans(state) {
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
pub(super) fn sinks(
    global: &Global,
    format: RunFormat,
    redactor: &Redactor,
    journal: &Journal,
) -> Vec<Arc<dyn EventSink>> {
    let terminal = std::io::stdout().is_terminal();
    let mut sinks: Vec<Arc<dyn EventSink>> = vec![Arc::new(journal.clone()), Arc::new(TraceSink)];
    match format {
        RunFormat::Json => sinks.push(Arc::new(JsonLines)),
        RunFormat::Text => sinks.push(Arc::new(TextView::new(
            redactor.clone(),
            terminal,
            use_color(global.color, terminal),
            global.quiet,
        ))),
    }
    sinks
}

/// The state directory could not be written: nothing ran.
pub(super) fn state_failure(message: String) -> Failure {
    Failure::Problems(vec![Problem::new("runbook::state::io", message)])
}
