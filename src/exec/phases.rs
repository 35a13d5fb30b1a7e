//! A run's two phases on disk. The activate phase ends **waiting for retire**: the journal's
//! `waiting` record (the truth), then what only the activate phase needed is deleted — backups,
//! which hold the old value, and pending values the retire phase does not read — the secrets
//! are marked waiting in `rotations.json`, and the active marker is cleared, so the lock is
//! free and new runs of other secrets may start. The retire phase begins with the current
//! values read anew (the old value, where it still verifies, is in the env file itself), and
//! a retire phase that is rolled back returns to waiting.

use crate::audit::PendingRetire;
use crate::journal::{Record, read_journal};
use crate::model::Phase;
use crate::plan::NodeIx;
use crate::state::StateDir;
use crate::steps::context::{RunContext, StartSnapshot, steps_read_by};
use crate::steps::durable::START_FILE;

use super::recover::Waiting;

/// The summary of an activate phase that ended, and when its retire is due (RFC 3339).
pub(crate) fn waiting_summary(ctx: &RunContext) -> (String, String) {
    let overlap = ctx
        .plan
        .overlap
        .clone()
        .expect("only a plan with an overlap has an activate stage; this is a bug");
    let now = jiff::Timestamp::now();
    let now = now.round(jiff::Unit::Second).unwrap_or(now);
    let seconds = i64::try_from(overlap.duration.as_secs()).unwrap_or(i64::MAX);
    let due = jiff::Timestamp::from_second(now.as_second().saturating_add(seconds))
        .unwrap_or(jiff::Timestamp::MAX)
        .to_string();
    let activated = activated_nodes(ctx).len();
    let secret = ctx
        .plan
        .secrets(&ctx.library)
        .first()
        .copied()
        .unwrap_or("SECRET");
    let summary = format!(
        "activate phase done ({activated} steps): the new value is in use and the old one still verifies; waiting for retire at {due} (after the {overlap} overlap): `runbook retire {secret}` then, or `runbook retire {secret} --now` to retire earlier"
    );
    (summary, due)
}

/// Every node of the activate phase: done or skipped, it is never undone after it ended.
fn activated_nodes(ctx: &RunContext) -> Vec<NodeIx> {
    ctx.plan
        .indexed_nodes()
        .filter(|(_, n)| n.phase == Phase::Activate)
        .map(|(i, _)| i)
        .collect()
}

/// The pending outputs of activate steps that a retire step's template reads: kept, 0600,
/// between the phases. Nothing else of the activate phase survives it.
pub(crate) fn kept_files(ctx: &RunContext) -> Vec<String> {
    let read = steps_read_by(&ctx.library, &ctx.plan, |s| s.phase() == Phase::Retire);
    let mut kept: Vec<String> = activated_nodes(ctx)
        .into_iter()
        .filter(|n| match ctx.plan.node(*n).work {
            crate::plan::Work::Step(rb, si) => read.contains(&(rb, si)),
            crate::plan::Work::Restart { .. } => false,
        })
        .filter(|n| ctx.durable.outputs_path(*n).exists())
        .map(|n| format!("out-{}.json", n.get()))
        .collect();
    // Inputs the operator entered (a provider's credential) stay for the retire phase too.
    let inputs_given = ctx
        .durable
        .load::<StartSnapshot>(START_FILE)
        .ok()
        .flatten()
        .is_some_and(|s| !s.inputs.is_empty() || !s.supplied.is_empty());
    if inputs_given {
        kept.push(START_FILE.to_string());
    }
    kept
}

/// Ends an activate phase waiting for retire at `due` (or returns a rolled-back retire phase
/// to waiting): the journal's record first, then the clean-up `settle` does.
pub(crate) fn enter_waiting(
    ctx: &RunContext,
    since: &str,
    due: &str,
    kept: &[String],
    problems: &mut Vec<String>,
) {
    let durable = &ctx.durable;
    let secrets: Vec<String> = ctx
        .plan
        .secrets(&ctx.library)
        .into_iter()
        .map(str::to_string)
        .collect();
    let record = Record::Waiting {
        since: since.to_string(),
        due: due.to_string(),
        activated: activated_nodes(ctx).into_iter().map(NodeIx::get).collect(),
        secrets,
        kept: kept.to_vec(),
    };
    if let Err(e) = durable.journal.durable_blocking(&record) {
        problems.push(format!("the journal: {e}"));
        return;
    }
    crate::failpoint::hit("phase", "after-waiting");
    problems.extend(settle(&durable.state, &durable.run_id));
}

/// What follows a `waiting` record, also finished by the next start when a kill cut it off:
/// backups and the pending values the retire phase does not read deleted, the current values
/// dropped from `start.json`, the secrets marked waiting in `rotations.json`, the run no longer
/// active. Returns what could not be done.
pub(crate) fn settle(state: &StateDir, run_id: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(waiting) = last_waiting(state, run_id) else {
        return vec![format!("run {run_id} has no `waiting` record")];
    };
    // Backups hold the old value: those linked beside the files go too (the journal names
    // them), not only the copies under `backup/`. Then the folder's live mark, which says to
    // the next start that this was cut short (`sweep::settle`).
    let linked = read_journal(&state.journal_path(run_id))
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|records| super::sweep::remove_linked_backups(&records));
    if let Err(e) = linked
        .and_then(|()| remove_dir(&state.backup_dir(run_id)))
        .and_then(|()| state.mark_settled(run_id))
    {
        problems.push(format!("removing backups: {e}"));
    }
    let pending = state.pending_dir(run_id);
    if let Ok(entries) = std::fs::read_dir(&pending) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != START_FILE
                && !waiting.kept.contains(&name)
                && let Err(e) = std::fs::remove_file(entry.path())
            {
                problems.push(format!("removing {}: {e}", entry.path().display()));
            }
        }
    }
    let start = pending.join(START_FILE);
    if let Ok(bytes) = std::fs::read(&start)
        && let Ok(mut snapshot) = serde_json::from_slice::<StartSnapshot>(&bytes)
        && !snapshot.currents.is_empty()
    {
        // The values read when the phase began (the old value among them) are not needed:
        // the retire phase reads them anew from the env files.
        snapshot.currents.clear();
        let written = serde_json::to_vec(&snapshot)
            .map_err(std::io::Error::other)
            .and_then(|json| state.write_private(&start, &json));
        if let Err(e) = written {
            problems.push(format!("rewriting {}: {e}", start.display()));
        }
    }
    let pending_retire = PendingRetire {
        run_id: run_id.to_string(),
        activated: waiting.since.clone(),
        retire_due: waiting.due.clone(),
    };
    if let Err(e) = crate::audit::record_waiting(state, &waiting.secrets, Some(&pending_retire)) {
        problems.push(format!("the rotation record: {e}"));
    }
    if state.active_run().as_deref() == Some(run_id)
        && let Err(e) = state.clear_active()
    {
        problems.push(format!("the active-run marker: {e}"));
    }
    problems
}

fn remove_dir(dir: &std::path::Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The journal's last `waiting` record and the files it keeps, if no retire began after it.
pub(crate) fn last_waiting(state: &StateDir, run_id: &str) -> Option<Waiting> {
    let records = read_journal(&state.journal_path(run_id)).ok()?;
    let mut last = None;
    for record in records {
        match record {
            record @ Record::Waiting { .. } => last = Waiting::of(record),
            Record::Retiring { .. } | Record::End { .. } => last = None,
            _ => {}
        }
    }
    last
}

/// Whether a run's journal ends waiting for retire (its last phase record is `waiting`).
pub(crate) fn is_waiting(state: &StateDir, run_id: &str) -> bool {
    last_waiting(state, run_id).is_some()
}

/// A run killed right after its activate phase was journaled done, before it was settled: it
/// is still marked active and `rotations.json` does not name it yet. Taking the lock settles
/// it; until then this finds it, for `secret`.
pub(crate) fn unsettled(state: &StateDir, secret: &str) -> Option<PendingRetire> {
    let run_id = state.active_run()?;
    let waiting = last_waiting(state, &run_id)?;
    waiting
        .secrets
        .iter()
        .any(|s| s == secret)
        .then_some(PendingRetire {
            run_id,
            activated: waiting.since,
            retire_due: waiting.due,
        })
}
