//! A run's durable start: the order of its first bytes on disk, what it keeps to start from,
//! and the runs a kill cut off before they began, swept at the next start.
//!
//! The active marker is written right after the run's folder, before the journal's first
//! record and before `start.json` (the only file holding secrets at that point): a kill at any
//! moment leaves either a folder with no secret in it, or a run that the next start finds.

use std::collections::{BTreeMap, HashMap};

use crate::checked::Library;
use crate::checked::RunbookIx;
use crate::envfile::EnvFile;
use crate::journal::{Journal, Record, read_journal};
use crate::plan::Plan;
use crate::project::Project;
use crate::redact::Redactor;
use crate::state::StateDir;
pub(crate) use crate::steps::context::StartSnapshot;
use crate::steps::durable::{Durable, START_FILE};

/// The current values the run reads (`secret.current`, `secret.values`): those of the runbooks
/// it runs, and of the secret a playbook targets. Every other secret of the library is only
/// masked, from the env files as they are, never kept on disk.
pub(crate) fn needed_currents(
    plan: &Plan,
    library: &Library,
    currents: &HashMap<RunbookIx, BTreeMap<String, String>>,
) -> HashMap<RunbookIx, BTreeMap<String, String>> {
    let target_owner = plan.target.as_ref().and_then(|id| library.owner_of(id));
    let used: std::collections::BTreeSet<RunbookIx> = plan
        .nodes
        .iter()
        .flat_map(|node| node.steps())
        .map(|(rb, _)| rb)
        .chain(target_owner)
        .collect();
    currents
        .iter()
        .filter(|(rb, _)| used.contains(rb))
        .map(|(rb, values)| (*rb, values.clone()))
        .collect()
}

/// Masks what every secret of the library holds now, read from the env files as they are: a
/// resumed run's children may print any of them, and only the ones it reads were kept on disk.
pub(crate) fn mask_library_values(project: &Project, library: &Library, redactor: &Redactor) {
    let mut values = Vec::new();
    let mut parsed: HashMap<std::path::PathBuf, Option<EnvFile>> = HashMap::new();
    for runbook in library.runbooks() {
        // A secret that lives on inventory hosts is not read from this machine.
        let (Some(secret), None) = (&runbook.secret, &runbook.on) else {
            continue;
        };
        let Ok(path) = runbook.secret_file(project) else {
            continue;
        };
        let file = parsed.entry(path).or_insert_with_key(|path| {
            std::fs::read(path)
                .ok()
                .and_then(|bytes| EnvFile::parse_owned(bytes).ok())
        });
        let Some(file) = file else { continue };
        for name in &secret.env {
            if !secret.public.contains(&name.value)
                && let Some(value) = file.get(&name.value)
            {
                values.push(value);
            }
        }
    }
    redactor.add_all(values.iter().map(String::as_str));
}

/// Undoes a start that failed before its first record was durable: nothing ran, so the run
/// must neither block the next one nor leave its files.
pub(crate) fn abandon(state: &StateDir, run_id: &str) {
    let _ = std::fs::remove_dir_all(state.run_dir(run_id));
    if state.active_run().as_deref() == Some(run_id) {
        let _ = state.clear_active();
    }
}

/// Removes every run a kill cut off before it began, and says which. Call it holding the run
/// lock, so no run is live. A run began when its journal has its `Begin` record and it was
/// marked active (no step runs before both); one that is marked active but has no `Begin`, or
/// is not marked active and recorded neither a step nor an end, did nothing, and may hold
/// `start.json` with secrets in it.
pub(crate) fn sweep_orphans(state: &StateDir) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(state.root.join("runs")) else {
        return Vec::new();
    };
    let active = state.active_run();
    let mut messages = Vec::new();
    for entry in entries.flatten() {
        let run_id = entry.file_name().to_string_lossy().into_owned();
        let records = match read_journal(&state.journal_path(&run_id)) {
            Ok(records) => records,
            Err(_) if !state.journal_path(&run_id).exists() => Vec::new(),
            // A damaged journal is the operator's to look at, never ours to delete.
            Err(_) => continue,
        };
        let begun = records.iter().any(|r| matches!(r, Record::Begin { .. }));
        let acted = records
            .iter()
            .any(|r| matches!(r, Record::Intent { .. } | Record::End { .. }));
        let is_active = active.as_deref() == Some(run_id.as_str());
        let ended = records.iter().any(|r| matches!(r, Record::End { .. }));
        if ended {
            messages.extend(finish_ended(state, &run_id, is_active));
            continue;
        }
        if is_active && super::phases::is_waiting(state, &run_id) {
            // Killed after its activate phase was journaled done (or before its retire
            // phase began): the journal is the truth, so finish settling it.
            let problems = super::phases::settle(state, &run_id);
            messages.push(if problems.is_empty() {
                format!("run {run_id} had ended its activate phase but was interrupted while settling; it now waits for retire")
            } else {
                format!("run {run_id} waits for retire, but settling it failed: {}", problems.join("; "))
            });
            continue;
        }
        let orphan = if is_active { !begun } else { !acted };
        if !orphan {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => messages.push(format!(
                "removed run {run_id}: it was interrupted before it began, so nothing was changed"
            )),
            Err(e) => messages.push(format!(
                "run {run_id} was interrupted before it began, but its files could not be removed: {e}"
            )),
        }
        if is_active {
            let _ = state.clear_active();
        }
    }
    // The marker itself is written by rename; a kill mid-write leaves a copy naming a run id.
    let _ = crate::atomic::remove_leftovers(&state.root.join("active"));
    messages
}

/// A run whose end is journaled but that was killed before it removed its pending values,
/// its backups and the active marker: the end is the truth, so finish what it left undone.
/// Without this the marker blocks every new run while `resume` and `abort` refuse a run that
/// already ended, and the pending files keep secrets forever.
fn finish_ended(state: &StateDir, run_id: &str, is_active: bool) -> Option<String> {
    let leftovers =
        is_active || state.pending_dir(run_id).exists() || state.backup_dir(run_id).exists();
    if !leftovers {
        return None;
    }
    let cleaned = state.remove_pending(run_id).and_then(|()| {
        if is_active {
            state.clear_active()
        } else {
            Ok(())
        }
    });
    Some(match cleaned {
        Ok(()) => format!(
            "run {run_id} had ended but was interrupted while cleaning up; removed its pending values, backups and active marker"
        ),
        Err(e) => {
            format!("run {run_id} had ended, but its leftover files could not be removed: {e}")
        }
    })
}

/// Begins a new run on disk, in the order the module's comment explains: its folder, the
/// active marker, the journal's durable `Begin` record, then `start.json`. If any of it fails,
/// the run is abandoned (nothing ran) and the message says what could not be written.
pub(crate) fn begin(
    state: &StateDir,
    run_id: &str,
    record: &Record,
    snapshot: &StartSnapshot,
    redactor: &Redactor,
) -> Result<Durable, String> {
    state
        .create_run(run_id)
        .map_err(|e| format!("cannot record the run: {e}"))?;
    crate::failpoint::hit("start", "after-folder");
    let begun = state
        .set_active(run_id)
        .map_err(|e| format!("cannot record the run: {e}"))
        .and_then(|()| {
            crate::failpoint::hit("start", "after-active");
            let journal = Journal::open(&state.journal_path(run_id), redactor)
                .map_err(|e| format!("cannot record the run: {e}"))?;
            journal.durable_blocking(record)?;
            let durable = Durable {
                journal,
                state: state.clone(),
                run_id: run_id.to_string(),
            };
            durable
                .keep(START_FILE, snapshot)
                .map_err(|e| format!("cannot record the run: {e}"))?;
            Ok(durable)
        });
    if begun.is_err() {
        abandon(state, run_id);
    }
    begun
}

/// Removes the temporary copies that an interrupted edit left beside `paths`, saying so: each
/// is a whole new version of the file, a new secret included. Call it holding the run lock.
pub(crate) fn remove_temp_leftovers<'a>(paths: impl IntoIterator<Item = &'a std::path::PathBuf>) {
    let paths: std::collections::BTreeSet<_> = paths.into_iter().collect();
    for path in paths {
        match crate::atomic::remove_leftovers(path) {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                "removed {n} temporary cop{} of {} left by an interrupted edit",
                if n == 1 { "y" } else { "ies" },
                path.display()
            ),
            // A file step may create its file in a folder that does not exist yet.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(
                "could not remove temporary copies of {}: {e}",
                path.display()
            ),
        }
    }
}
