//! The audit log (`audit.jsonl`: who rotated what, when, with what outcome) and the last
//! rotation of each secret (`rotations.json`, read by `status` and `list`).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use serde::{Deserialize, Serialize};

use crate::state::StateDir;

/// The outcome of a completed rotation.
const ROTATED: &str = "rotated";
/// The outcome of an activate phase that ended waiting for retire.
pub(crate) const WAITING_FOR_RETIRE: &str = "waiting_for_retire";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AuditEntry {
    pub secret: String,
    pub run_id: String,
    pub runbook: String,
    pub mode: String,
    pub operator: String,
    pub started: String,
    pub ended: String,
    /// `rotated`, `waiting_for_retire` (the activate phase ended: the new value is in use,
    /// the old one still verifies), `awaiting_operator` (the run waits for a person; the old
    /// credential may still be live), `rolled_back`, `paused`, `interrupted`,
    /// `needs_operator`, `aborted`.
    pub outcome: String,
    /// Keyed fingerprint of the value the secret holds after the run.
    pub fingerprint: Option<String>,
    /// `activate` or `retire` for a run with an overlap; absent for a run in one phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// What the run keeps between its phases (0600 files under its `pending/`), each with a
    /// keyed fingerprint of its bytes; deleted when the retire phase ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<KeptFile>,
}

/// A file kept between a run's phases.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeptFile {
    pub file: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Rotation {
    /// RFC 3339: when the last rotation completed (for a rotation with an overlap, when its
    /// retire phase ended). Absent while the first rotation waits for retire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub fingerprint: Option<String>,
    /// A rotation whose activate phase ended and whose retire phase has not: the new value
    /// is in use and the old one still verifies until `runbook retire`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for_retire: Option<PendingRetire>,
}

/// The retire a secret waits for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct PendingRetire {
    pub run_id: String,
    /// RFC 3339: when the activate phase ended.
    pub activated: String,
    /// RFC 3339: when the overlap has passed and `runbook retire` runs without `--now`.
    pub retire_due: String,
}

/// What a run's end records: its audit entries, then the secrets it rotated. Both files are
/// written first and then flushed at once, the audit log's fsync on a thread of its own while
/// this one flushes the new `rotations.json`, so a run that rotated waits for one fsync where
/// it waited for two in a row; both are on disk before `rotations.json` is renamed into
/// place and before the run's end is journaled, as when they were flushed one after the other.
pub(crate) fn record_end(
    state: &StateDir,
    entries: &[AuditEntry],
    rotated: BTreeMap<String, Rotation>,
) -> (std::io::Result<()>, std::io::Result<()>) {
    let written = write_entries(state, entries);
    let staged = stage_rotations(state, rotated);
    let (logged, flushed) = match (&written, &staged) {
        (Ok(Some(file)), Ok(Some(staged))) => std::thread::scope(|scope| {
            let logged = scope.spawn(|| file.sync_data());
            let flushed = staged.flush();
            let logged = logged
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (logged, flushed)
        }),
        _ => (
            written.as_ref().map_or(Ok(()), |file| {
                file.as_ref().map_or(Ok(()), |f| f.sync_data())
            }),
            staged.as_ref().map_or(Ok(()), |staged| {
                staged.as_ref().map_or(Ok(()), |s| s.flush())
            }),
        ),
    };
    let audit = written.and(logged);
    let rotations = staged.and_then(|staged| match staged {
        Some(staged) => flushed.and_then(|()| staged.replace()),
        None => Ok(()),
    });
    (audit, rotations)
}

/// Appends the entries not logged yet, without an fsync; the file, if anything was written.
/// A rotation is logged once per run: a run that stopped awaiting the operator after a
/// rotation completed has logged it already, and resuming it to the end must not log it again.
fn write_entries(
    state: &StateDir,
    entries: &[AuditEntry],
) -> std::io::Result<Option<std::fs::File>> {
    // Likewise an activate phase that ended waiting for retire, recorded again when a run
    // killed while recording it is resumed.
    let once = |outcome: &str| outcome == ROTATED || outcome == WAITING_FOR_RETIRE;
    let logged: std::collections::HashSet<(String, String, String)> = read_runs(state, entries)
        .into_iter()
        .filter(|e| once(&e.outcome))
        .map(|e| (e.run_id, e.secret, e.outcome))
        .collect();
    let entries: Vec<&AuditEntry> = entries
        .iter()
        .filter(|e| {
            !once(&e.outcome)
                || !logged.contains(&(e.run_id.clone(), e.secret.clone(), e.outcome.clone()))
        })
        .collect();
    if entries.is_empty() {
        return Ok(None);
    }
    let path = state.audit_path();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut text = String::new();
    for entry in entries {
        text.push_str(&serde_json::to_string(entry).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    file.write_all(text.as_bytes())?;
    Ok(Some(file))
}

/// The logged entries of the runs `entries` belong to. The log grows by a few lines a run
/// and is kept forever, so only the lines that name one of these runs (ids are unique, and
/// appear verbatim in their JSON) are parsed: a search through the text, not a parse of the
/// whole history, on every run's end.
fn read_runs(state: &StateDir, entries: &[AuditEntry]) -> Vec<AuditEntry> {
    let runs: std::collections::BTreeSet<&str> =
        entries.iter().map(|e| e.run_id.as_str()).collect();
    std::fs::read_to_string(state.audit_path())
        .unwrap_or_default()
        .lines()
        .filter(|line| runs.iter().any(|run| line.contains(run)))
        .filter_map(|line| serde_json::from_str::<AuditEntry>(line).ok())
        .filter(|e| runs.contains(e.run_id.as_str()))
        .collect()
}

pub(crate) fn read(state: &StateDir) -> Vec<AuditEntry> {
    std::fs::read_to_string(state.audit_path())
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

pub(crate) fn rotations(state: &StateDir) -> BTreeMap<String, Rotation> {
    std::fs::read(state.rotations_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The new `rotations.json` with `rotated` merged in, written beside the old one and not yet
/// flushed or renamed; nothing when nothing rotated.
fn stage_rotations(
    state: &StateDir,
    rotated: BTreeMap<String, Rotation>,
) -> std::io::Result<Option<crate::atomic::Staged>> {
    if rotated.is_empty() {
        return Ok(None);
    }
    let mut all = rotations(state);
    all.extend(rotated);
    crate::atomic::stage(&state.rotations_path(), &rotations_json(&all)?, Some(0o600)).map(Some)
}

fn write_rotations(state: &StateDir, all: &BTreeMap<String, Rotation>) -> std::io::Result<()> {
    crate::atomic::write_atomic(&state.rotations_path(), &rotations_json(all)?, Some(0o600))
}

fn rotations_json(all: &BTreeMap<String, Rotation>) -> std::io::Result<Vec<u8>> {
    let mut json = serde_json::to_vec_pretty(all).map_err(std::io::Error::other)?;
    json.push(b'\n');
    Ok(json)
}

/// Records that `secrets` wait for retire (`Some`), or no longer do without having rotated
/// (`None`: the run that activated them was aborted). The last completed rotation stays.
pub(crate) fn record_waiting(
    state: &StateDir,
    secrets: &[String],
    pending: Option<&PendingRetire>,
) -> std::io::Result<()> {
    let mut all = rotations(state);
    let mut changed = false;
    for secret in secrets {
        let entry = all.entry(secret.clone()).or_default();
        if entry.waiting_for_retire.as_ref() != pending {
            entry.waiting_for_retire = pending.cloned();
            changed = true;
        }
    }
    all.retain(|_, r| r.last_rotated.is_some() || r.waiting_for_retire.is_some());
    if !changed {
        return Ok(());
    }
    write_rotations(state, &all)
}
