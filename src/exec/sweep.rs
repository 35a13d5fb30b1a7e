//! The sweep at each start: what every past run's folder says about it, and what the start
//! finishes for it — the runs a kill cut off before they began are removed, the clean-up of
//! runs that ended is completed, and a run that did not finish but lost its active marker to a
//! power cut is marked again, so it is resumed or aborted before anything else runs. Every
//! folder is looked at only when `runs/` is not as the last complete sweep left it, in the
//! same boot (`swept.rs`); otherwise the marker names every run that can need anything.

use crate::journal::{Record, read_journal};
use crate::state::StateDir;

/// What a run's folder says about it, read only for runs that may still need something: a
/// run that ended cleanly has its folder's live mark cleared and no `pending/` or `backup/`
/// folder left (all only once its end is durable), so a full sweep of a long history costs
/// one `stat` per run, not a journal read (and most starts need none: `swept.rs`).
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

/// Whether a run's folder is marked live (`state::LIVE`) or still has `pending/` or `backup/`
/// (a run waiting for retire keeps `pending/`; earlier versions marked a live run with
/// `backup/` alone). One `stat` of the folder (relative to `runs/`, which `read_dir` already
/// has open) answers both for a run that ended: its mode, and its link count, which is two
/// plus its subfolders on ext4 and XFS; a file system that does not count them (btrfs says 1)
/// is asked for each folder by name.
fn is_live(state: &StateDir, run_id: &str, entry: Option<&std::fs::DirEntry>) -> bool {
    use std::os::unix::fs::MetadataExt;
    let meta = match entry {
        Some(entry) => entry.metadata(),
        None => std::fs::symlink_metadata(state.run_dir(run_id)),
    };
    match meta {
        Ok(meta) if crate::state::marks_live(meta.mode()) => true,
        Ok(meta) if meta.nlink() == 2 => false,
        Ok(meta) if meta.nlink() > 2 => true,
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
    // As the last complete sweep left it: every run that needs anything is marked, none is.
    if super::swept::unchanged(state) {
        return None;
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
/// may hold `start.json` with secrets in it. When `runs/` is as the last complete sweep left
/// it, in the same boot, only the run the marker names is examined (see `swept.rs`).
pub(crate) fn sweep_orphans(state: &StateDir) -> Vec<String> {
    // Earlier versions wrote the marker by rename; a kill mid-write left a copy naming a run.
    // They also wrote the lock's holder to `lock.holder` (by rename from `lock.holder.PID`); a
    // killed one left it behind, naming a dead process. These files are ours and never links,
    // so their folder is listed without resolving them.
    remove_marker_copies(&state.root);
    let active = state.active_run();
    let mut messages = Vec::new();
    // Whether every run that still needs something is named by the marker once this is done.
    let mut named = true;
    let unchanged = super::swept::unchanged(state);
    if unchanged {
        // A marker whose folder is gone is cleared below, as after a full sweep.
        if let Some(run_id) = active.as_deref().filter(|id| state.run_dir(id).exists()) {
            named &= settle(state, run_id, true, None, &mut messages);
        }
    } else {
        let Ok(entries) = std::fs::read_dir(state.root.join("runs")) else {
            return Vec::new();
        };
        for entry in entries.flatten() {
            let run_id = entry.file_name().to_string_lossy().into_owned();
            let is_active = active.as_deref() == Some(run_id.as_str());
            named &= settle(state, &run_id, is_active, Some(&entry), &mut messages);
        }
    }
    // A marker that outlived its run's folder (a power cut kept the marker, not the folder).
    if let Some(active) = &active
        && !state.run_dir(active).exists()
    {
        let _ = state.clear_active();
    }
    if named {
        // A sweep that found `runs/` unchanged and did nothing leaves it as written down.
        if !(unchanged && messages.is_empty()) {
            super::swept::record(state);
        }
    } else {
        super::swept::forget(state);
    }
    messages
}

/// Finishes for one run what its folder says a start must finish, saying what it did; whether
/// the run is then either left needing nothing or named by the active marker.
fn settle(
    state: &StateDir,
    run_id: &str,
    is_active: bool,
    entry: Option<&std::fs::DirEntry>,
    messages: &mut Vec<String>,
) -> bool {
    match examine(state, run_id, is_active, entry) {
        Found::Settled => true,
        Found::EndedWithLeftovers(records) => {
            let (message, cleaned) = finish_ended(state, run_id, is_active, &records);
            messages.push(message);
            cleaned
        }
        // Settling removes the backups and clears the folder's live mark first: the mark
        // still there (or an earlier version's `backup/`), or the active marker, says a kill
        // (or a power cut, which can also lose the unsynced marker) cut it short.
        Found::Waiting
            if is_active || state.is_marked_live(run_id) || state.backup_dir(run_id).exists() =>
        {
            // Killed after its activate phase was journaled done (or before its retire
            // phase began): the journal is the truth, so finish settling it.
            let problems = super::phases::settle(state, run_id);
            messages.push(if problems.is_empty() {
                format!("run {run_id} had ended its activate phase but was interrupted while settling; it now waits for retire")
            } else {
                format!("run {run_id} waits for retire, but settling it failed: {}", problems.join("; "))
            });
            problems.is_empty()
        }
        Found::Waiting => true,
        Found::Unfinished if !is_active && state.active_run().is_none() => {
            let marked = state.set_active(run_id).is_ok();
            if marked {
                messages.push(format!(
                    "run {run_id} did not finish and had lost its active marker (a power cut?); marked it active again"
                ));
            }
            marked
        }
        // Marked, or left beside the marked one (which `resume` or `abort` handles first).
        Found::Unfinished => is_active,
        Found::Orphan => {
            let removed = std::fs::remove_dir_all(state.run_dir(run_id));
            match &removed {
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
            removed.is_ok()
        }
    }
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
) -> (String, bool) {
    let cleaned = remove_linked_backups(records)
        .and_then(|()| state.remove_pending(run_id))
        .and_then(|()| {
            if is_active {
                state.clear_active()
            } else {
                Ok(())
            }
        });
    match cleaned {
        Ok(()) => (
            format!(
                "run {run_id} had ended but was interrupted while cleaning up; removed its pending values, backups and active marker"
            ),
            true,
        ),
        Err(e) => (
            format!("run {run_id} had ended, but its leftover files could not be removed: {e}"),
            false,
        ),
    }
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
