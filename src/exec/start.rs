//! A run's durable start: the order of its first bytes on disk, what it keeps to start from,
//! and the runs a kill cut off before they began, swept at the next start.
//!
//! The active marker is written right after the run's folder, before `start.json` (the only
//! file holding secrets at that point) and the journal's first record: a kill at any moment
//! leaves either a folder with no secret in it, or a run that the next start finds.

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

/// What a run's folder says about it, read only for runs that may still need something: a
/// run that ended cleanly has no `pending/` or `backup/` folder left (they are removed only
/// once its end is durable), so a long history costs one `stat` per run, not a journal read.
enum Found {
    /// Ended and cleaned up, or a damaged journal (the operator's to look at, never ours).
    Settled,
    /// Its end is journaled but a kill (or a power cut) came before its files were removed.
    EndedWithLeftovers(Vec<Record>),
    /// Its activate phase ended and it waits for retire (see `phases.rs`): not unfinished.
    Waiting,
    /// Acted and did not end: the run to resume or abort.
    Unfinished,
    /// Never began, or began but did nothing: it changed nothing.
    Orphan,
}

/// Whether a run's folder still has `pending/` or `backup/`. A directory's link count is two
/// plus its subfolders on ext4 and XFS, so one `stat` of the folder (relative to `runs/`,
/// which `read_dir` already has open) answers for a run that ended; a file system that does
/// not count them (btrfs says 1) is asked for each folder by name.
fn is_live(state: &StateDir, run_id: &str, entry: Option<&std::fs::DirEntry>) -> bool {
    use std::os::unix::fs::MetadataExt;
    match entry.and_then(|e| e.metadata().ok()).map(|m| m.nlink()) {
        Some(2) => false,
        Some(links) if links > 2 => true,
        _ => state.pending_dir(run_id).exists() || state.backup_dir(run_id).exists(),
    }
}

fn examine(
    state: &StateDir,
    run_id: &str,
    is_active: bool,
    entry: Option<&std::fs::DirEntry>,
) -> Found {
    if !is_active && !is_live(state, run_id, entry) {
        return Found::Settled;
    }
    let records = match read_journal(&state.journal_path(run_id)) {
        Ok(records) => records,
        Err(_) if !state.journal_path(run_id).exists() => Vec::new(),
        Err(_) => return Found::Settled,
    };
    let begun = records.iter().any(|r| matches!(r, Record::Begin { .. }));
    let ended = records.iter().any(|r| matches!(r, Record::End { .. }));
    // An armed step's intent is durable before it starts (`arming.rs`): the run may have acted.
    let acted = records.iter().any(|r| {
        matches!(
            r,
            Record::Intent { .. }
                | Record::Armed { .. }
                | Record::Started { .. }
                | Record::Awaiting { .. }
        )
    });
    // As `phases::last_waiting` reads it: a `waiting` record no retire phase or end followed.
    let waiting = records.iter().fold(false, |waiting, r| match r {
        Record::Waiting { .. } => true,
        Record::Retiring { .. } | Record::End { .. } => false,
        _ => waiting,
    });
    if ended {
        Found::EndedWithLeftovers(records)
    } else if waiting {
        Found::Waiting
    } else if begun && (is_active || acted) {
        // Marked active and begun: no step runs before both, so it may have acted (a manual
        // first step awaiting the operator journals no intent).
        Found::Unfinished
    } else {
        // Never began; or began, not marked active and never acted: a run cut off before its
        // first step (by a power cut, or in an earlier version), which did nothing.
        Found::Orphan
    }
}

/// The run that did not finish, if any: the one the active marker names, else one whose
/// journal shows it acted and did not end (a power cut can lose the marker, which is not
/// fsynced; the journal's intent was).
pub(crate) fn unfinished_run(state: &StateDir) -> Option<String> {
    if let Some(active) = state.active_run() {
        return Some(active);
    }
    let entries = std::fs::read_dir(state.root.join("runs")).ok()?;
    entries
        .flatten()
        .find(|entry| {
            let run_id = entry.file_name().to_string_lossy().into_owned();
            matches!(
                examine(state, &run_id, false, Some(entry)),
                Found::Unfinished
            )
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
}

/// Removes every run a kill cut off before it began, finishes the clean-up of runs that ended,
/// marks active again a run that did not finish but lost its marker to a power cut, and says
/// which. Call it holding the run lock, so no run is live. A run began when its journal has
/// its `Begin` record and acted when it has an intent; one that did neither did nothing, and
/// may hold `start.json` with secrets in it.
pub(crate) fn sweep_orphans(state: &StateDir) -> Vec<String> {
    // Earlier versions wrote the marker by rename; a kill mid-write left a copy naming a run.
    // They also wrote the lock's holder to `lock.holder` (by rename from `lock.holder.PID`); a
    // killed one left it behind, naming a dead process. These files are ours and never links,
    // so their folder is listed without resolving them.
    remove_marker_copies(&state.root);
    let Ok(entries) = std::fs::read_dir(state.root.join("runs")) else {
        return Vec::new();
    };
    let active = state.active_run();
    let mut messages = Vec::new();
    for entry in entries.flatten() {
        let run_id = entry.file_name().to_string_lossy().into_owned();
        let is_active = active.as_deref() == Some(run_id.as_str());
        match examine(state, &run_id, is_active, Some(&entry)) {
            Found::Settled => {}
            Found::EndedWithLeftovers(records) => {
                messages.extend(finish_ended(state, &run_id, is_active, &records));
            }
            // Settling removes `backup/` first: one still there, or the marker, says a kill
            // (or a power cut, which can also lose the unsynced marker) cut it short.
            Found::Waiting if is_active || state.backup_dir(&run_id).exists() => {
                // Killed after its activate phase was journaled done (or before its retire
                // phase began): the journal is the truth, so finish settling it.
                let problems = super::phases::settle(state, &run_id);
                messages.push(if problems.is_empty() {
                    format!("run {run_id} had ended its activate phase but was interrupted while settling; it now waits for retire")
                } else {
                    format!("run {run_id} waits for retire, but settling it failed: {}", problems.join("; "))
                });
            }
            Found::Waiting => {}
            Found::Unfinished if !is_active && active.is_none() => {
                if state.set_active(&run_id).is_ok() {
                    messages.push(format!(
                        "run {run_id} did not finish and had lost its active marker (a power cut?); marked it active again"
                    ));
                }
            }
            Found::Unfinished => {}
            Found::Orphan => {
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
        }
    }
    // A marker that outlived its run's folder (a power cut kept the marker, not the folder).
    if let Some(active) = &active
        && !state.run_dir(active).exists()
    {
        let _ = state.clear_active();
    }
    messages
}

/// Removes the `..active.XXXXXX.tmp` copies an interrupted rename of the marker left, and the
/// holder files of the lock that earlier versions wrote.
fn remove_marker_copies(root: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let copy = name.to_str().is_some_and(|n| {
            n.strip_prefix(".active.")
                .is_some_and(|n| n.ends_with(".tmp"))
                || n == "lock.holder"
                || n.starts_with("lock.holder.")
        });
        if copy && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A run whose end is journaled but that was killed before it removed its backups, pending
/// values and the active marker: the end is the truth, so finish what it left undone.
/// Without this the marker blocks every new run while `resume` and `abort` refuse a run that
/// already ended, and the pending files and backups keep secrets forever.
fn finish_ended(
    state: &StateDir,
    run_id: &str,
    is_active: bool,
    records: &[Record],
) -> Option<String> {
    let cleaned = remove_linked_backups(records)
        .and_then(|()| state.remove_pending(run_id))
        .and_then(|()| {
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

/// Removes the backups that a run's journal says it kept beside the files they hold (absolute
/// paths; copies under `backup/` go with that folder). Only for a run that needs none any more:
/// ended, or between its phases.
pub(crate) fn remove_linked_backups(records: &[Record]) -> std::io::Result<()> {
    let linked = records.iter().filter_map(|r| match r {
        Record::Backup {
            backup: Some(name), ..
        } => Some(std::path::PathBuf::from(name)),
        _ => None,
    });
    let mut cleaned = Ok(());
    for path in linked.filter(|p| p.is_absolute()) {
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            cleaned = Err(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            ));
        }
    }
    cleaned
}

/// Begins a new run on disk, in the order the module's comment explains: its folder, the
/// active marker, `start.json`, then the journal's `Begin` record. If any of it fails, the run
/// is abandoned (nothing ran) and the message says what could not be written.
///
/// None of it is fsynced here except `start.json` (and only when it holds something): nothing
/// has happened yet that a power cut could leave half-done. The first record that must be
/// durable — the intent of a step with a side effect — makes `Begin` durable with it, the
/// journal being appended in order, and `start.json` is on disk before `Begin` is even written.
/// A run lost whole to a power cut before that did nothing (see `sweep_orphans`).
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
            let durable = Durable::new(journal, state.clone(), run_id.to_string());
            // Written before `Begin`, so a run that began always has it: `resume` reads a
            // missing one as an empty snapshot, which is what an empty one is not written for.
            if !snapshot.is_empty() {
                durable
                    .keep(START_FILE, snapshot)
                    .map_err(|e| format!("cannot record the run: {e}"))?;
            }
            durable.journal.append(record)?;
            Ok(durable)
        });
    if begun.is_err() {
        abandon(state, run_id);
    }
    begun
}

/// Removes the temporary copies that an interrupted edit left beside `paths`, saying so: each
/// is a whole new version of the file, a new secret included; and the backups beside them of
/// every run but `keep` (the run being resumed or aborted), each an old version that a power
/// cut kept after its run ended. Call it holding the run lock, with no other run unfinished.
pub(crate) fn remove_temp_leftovers<'a>(
    paths: impl IntoIterator<Item = &'a std::path::PathBuf>,
    keep: Option<&str>,
) {
    let paths: std::collections::BTreeSet<_> = paths.into_iter().collect();
    for path in paths {
        let found = crate::atomic::remove_leftovers_and(path, |target, name| {
            crate::host::is_stale_backup(target, name, keep)
        });
        match found {
            Ok((0, 0)) => {}
            Ok((temps, backups)) => {
                if temps > 0 {
                    tracing::warn!(
                        "removed {temps} temporary cop{} of {} left by an interrupted edit",
                        if temps == 1 { "y" } else { "ies" },
                        path.display()
                    );
                }
                if backups > 0 {
                    tracing::warn!(
                        "removed {backups} backup{} of {} left by a run that ended",
                        if backups == 1 { "" } else { "s" },
                        path.display()
                    );
                }
            }
            // A file step may create its file in a folder that does not exist yet.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(
                "could not remove temporary copies of {}: {e}",
                path.display()
            ),
        }
    }
}
