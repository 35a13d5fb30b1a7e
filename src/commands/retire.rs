//! `runbook retire SECRET`: the retire phase of the run that activated the secret's new value
//! — once its overlap has passed, or earlier with `--now` — which stops the old value from
//! verifying. A retire that fails is rolled back and the run waits for retire again.

use std::io::IsTerminal;

use super::reopen::{Purpose, Reopened, reopen};
use super::{Failure, Global, Outcome, open_lenient};
use crate::audit::PendingRetire;
use crate::diagnostic::Problem;
use crate::exec::Stage;
use crate::redact::Redactor;
use crate::state::StateDir;

/// What `retire` was asked.
#[derive(Debug, Clone)]
pub(crate) struct RetireOptions {
    /// A secret id or one of its env names, case-insensitive.
    pub secret: String,
    /// Retire before the due date.
    pub now: bool,
    pub yes: bool,
}

pub(super) fn retire(global: &Global, options: &RetireOptions, redactor: &Redactor) -> Outcome {
    let (project, library) = open_lenient(global)?;
    let id = library
        .secret_owner(&options.secret)
        .and_then(|r| r.secret.as_ref())
        .map(|s| s.id.value.clone())
        .ok_or_else(|| crate::plan::unknown_secret(&library, &options.secret))?;
    let state = StateDir::new(&project.state_dir);
    if let Some(active) = state.active_run()
        && !crate::exec::phases::is_waiting(&state, &active)
    {
        // An interrupted run (its retire phase, perhaps) comes first.
        return Err(Failure::Exit(
            crate::exit::LOCKED,
            format!(
                "run {active} did not finish: `runbook resume {active}` to finish it, or `runbook abort {active}` to roll it back"
            ),
        ));
    }
    let pending = crate::audit::rotations(&state)
        .remove(&id)
        .and_then(|r| r.waiting_for_retire)
        .or_else(|| crate::exec::phases::unsettled(&state, &id))
        .filter(|p| crate::exec::phases::is_waiting(&state, &p.run_id))
        .ok_or_else(|| {
            Problem::new(
                "runbook::retire::not_pending",
                format!("secret `{id}` has no retire pending: no run of it is waiting for retire"),
            )
            .help("`runbook status` shows the secrets waiting for retire")
        })?;
    let early = not_due(&id, &pending, options.now)?;
    let interactive = std::io::stdin().is_terminal();
    if !interactive && !options.yes {
        return Err(Failure::Exit(
            crate::exit::INVALID,
            format!(
                "`runbook retire {id}` asks before acting and there is no terminal to ask: pass `--yes` to retire unattended; nothing was done"
            ),
        ));
    }
    if interactive && !options.yes && !proceed(&id, &pending.run_id)? {
        return Err(Failure::Exit(
            crate::exit::INVALID,
            "cancelled by the operator; nothing was done".into(),
        ));
    }
    let Reopened { session, start, .. } = reopen(
        global,
        &pending.run_id,
        options.yes,
        &[],
        redactor,
        Purpose::Retire { early },
    )?;
    session.announce(Stage::Retire);
    Ok(session.execute(start))
}

/// Refuses a retire before its due date unless `--now`; whether it is early.
fn not_due(id: &str, pending: &PendingRetire, now: bool) -> Result<bool, Failure> {
    let due: jiff::Timestamp = pending.retire_due.parse().map_err(|e| {
        Problem::new(
            "runbook::retire::not_pending",
            format!("the retire due date of `{id}` in rotations.json cannot be read: {e}"),
        )
    })?;
    let early = jiff::Timestamp::now() < due;
    if early && !now {
        return Err(Problem::new(
            "runbook::retire::not_due",
            format!(
                "the retire of `{id}` is due at {due}: until then the old value keeps verifying, as the runbook's overlap asks; nothing was done"
            ),
        )
        .help(format!(
            "`runbook retire {id} --now` retires it earlier (tokens or sessions made with the old value stop working)"
        ))
        .into());
    }
    Ok(early)
}

/// At a terminal, before anything acts: `yes` goes on, `no` (or a closed terminal) cancels.
fn proceed(id: &str, run_id: &str) -> Result<bool, Failure> {
    let mut prompt = format!(
        "Retire the old value of `{id}` (run {run_id}): it stops verifying. Type `yes` to retire, `no` to cancel: "
    );
    loop {
        match crate::terminal::read_hidden_line(&prompt, false) {
            Ok(answer) => match answer.trim().to_ascii_lowercase().as_str() {
                "yes" => return Ok(true),
                "no" => return Ok(false),
                _ => prompt = "Unknown answer. Type `yes` to retire, `no` to cancel: ".into(),
            },
            Err(_) => return Ok(false),
        }
    }
}
