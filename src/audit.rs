//! The audit log (`audit.jsonl`: who rotated what, when, with what outcome) and the last
//! rotation of each secret (`rotations.json`, read by `status` and `list`).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use serde::{Deserialize, Serialize};

use crate::state::StateDir;

/// The outcome of a completed rotation.
const ROTATED: &str = "rotated";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AuditEntry {
    pub secret: String,
    pub run_id: String,
    pub runbook: String,
    pub mode: String,
    pub operator: String,
    pub started: String,
    pub ended: String,
    /// `rotated`, `awaiting_operator` (the run waits for a person; the old credential may
    /// still be live), `rolled_back`, `paused`, `interrupted`, `needs_operator`, `aborted`.
    pub outcome: String,
    /// Keyed fingerprint of the value the secret holds after the run.
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Rotation {
    /// RFC 3339.
    pub last_rotated: String,
    pub run_id: String,
    pub fingerprint: Option<String>,
}

/// Appends entries and makes them durable. A rotation is logged once per run: a run that
/// stopped awaiting the operator after a rotation completed has logged it already, and
/// resuming it to the end must not log it again.
pub(crate) fn append(state: &StateDir, entries: &[AuditEntry]) -> std::io::Result<()> {
    let logged: std::collections::HashSet<(String, String)> = read(state)
        .into_iter()
        .filter(|e| e.outcome == ROTATED)
        .map(|e| (e.run_id, e.secret))
        .collect();
    let entries: Vec<&AuditEntry> = entries
        .iter()
        .filter(|e| e.outcome != ROTATED || !logged.contains(&(e.run_id.clone(), e.secret.clone())))
        .collect();
    if entries.is_empty() {
        return Ok(());
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
    file.sync_data()
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

/// Records the secrets a run rotated (atomically: the file is never torn).
pub(crate) fn record_rotations(
    state: &StateDir,
    rotated: BTreeMap<String, Rotation>,
) -> std::io::Result<()> {
    if rotated.is_empty() {
        return Ok(());
    }
    let mut all = rotations(state);
    all.extend(rotated);
    let mut json = serde_json::to_vec_pretty(&all).map_err(std::io::Error::other)?;
    json.push(b'\n');
    crate::atomic::write_atomic(&state.rotations_path(), &json, Some(0o600))
}
