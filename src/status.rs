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
                .and_then(|r| r.last_rotated.parse::<jiff::Timestamp>().ok());
            let (next, overdue) = match (&secret.every, last) {
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
                last_rotated_seconds: last.map(|t| t.as_second()),
                next_due_seconds: next.map(|t| t.as_second()),
            })
        })
        .collect();
    out.sort_by(|a, b| a.secret.cmp(&b.secret));
    out
}
