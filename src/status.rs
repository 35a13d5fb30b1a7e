//! Rotation status: for each secret, when it last rotated, when it is next due, and whether
//! it is overdue — computed from the library's policies and `rotations.json`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::audit::Rotation;
use crate::checked::Library;
use crate::model::Policy;

#[derive(Debug, Serialize)]
pub(crate) struct SecretStatus {
    pub secret: String,
    pub runbook: String,
    pub env: Vec<String>,
    pub policy: String,
    pub last_rotated: Option<String>,
    pub next_due: Option<String>,
    /// Whole days past due (0 when due today or not due).
    pub overdue_days: i64,
    pub overdue: bool,
    /// The run whose retire phase is pending: its new value is in use, the old one still
    /// verifies.
    pub waiting_for_retire: Option<String>,
    /// When that retire is due (RFC 3339).
    pub retire_due: Option<String>,
    /// The retire is past due: the old value has verified longer than the overlap.
    pub retire_overdue: bool,
    #[serde(skip)]
    pub retire_due_seconds: Option<i64>,
    #[serde(skip)]
    pub last_rotated_seconds: Option<i64>,
    #[serde(skip)]
    pub next_due_seconds: Option<i64>,
}

pub(crate) fn statuses(
    library: &Library,
    rotations: &BTreeMap<String, Rotation>,
    now: jiff::Timestamp,
) -> Vec<SecretStatus> {
    let mut out: Vec<SecretStatus> = library
        .runbooks()
        .filter_map(|runbook| {
            let secret = runbook.secret.as_ref()?;
            let id = secret.id.value.clone();
            let last = rotations
                .get(&id)
                .and_then(|r| r.last_rotated.as_deref())
                .and_then(|t| t.parse::<jiff::Timestamp>().ok());
            let pending = rotations
                .get(&id)
                .and_then(|r| r.waiting_for_retire.as_ref());
            let retire_due = pending.and_then(|p| p.retire_due.parse::<jiff::Timestamp>().ok());
            let (next, overdue) = match (&secret.every, last) {
                // The new value is in use: the rotation is under way, not overdue; what can
                // be late now is its retire.
                (Policy::Every(_), _) if pending.is_some() => (None, false),
                (Policy::Every(period), Some(last)) => {
                    let seconds = i64::try_from(period.duration.as_secs()).unwrap_or(i64::MAX);
                    let next =
                        jiff::Timestamp::from_second(last.as_second().saturating_add(seconds)).ok();
                    (next, next.is_some_and(|n| n < now))
                }
                // Never rotated under a time policy: nobody knows how old it is.
                (Policy::Every(_), None) => (None, true),
                (Policy::Provider | Policy::User, _) => (None, false),
            };
            let overdue_days = match (next, overdue) {
                (Some(next), true) => (now.as_second() - next.as_second()) / 86_400,
                _ => 0,
            };
            Some(SecretStatus {
                secret: id,
                runbook: runbook.name.value.clone(),
                env: secret.env.iter().map(|e| e.value.clone()).collect(),
                policy: secret.every.to_string(),
                last_rotated: last.map(|t| t.to_string()),
                next_due: next.map(|t| t.to_string()),
                overdue_days,
                overdue,
                waiting_for_retire: pending.map(|p| p.run_id.clone()),
                retire_due: retire_due.map(|t| t.to_string()),
                retire_overdue: retire_due.is_some_and(|d| d < now),
                retire_due_seconds: retire_due.map(|t| t.as_second()),
                last_rotated_seconds: last.map(|t| t.as_second()),
                next_due_seconds: next.map(|t| t.as_second()),
            })
        })
        .collect();
    out.sort_by(|a, b| a.secret.cmp(&b.secret));
    out
}
