//! The `list` table: each runbook, its secret, env names, policy and impact, and when the
//! secret is due next (a pending retire first).

use std::fmt::Write;

use serde::Serialize;

use crate::checked::Library;

#[derive(Serialize)]
pub(crate) struct Row {
    pub runbook: String,
    pub description: Option<String>,
    pub mode: &'static str,
    pub secret: Option<String>,
    pub env: Vec<String>,
    pub policy: Option<String>,
    pub impact: Option<String>,
    pub implies: Vec<String>,
    pub last_rotated: Option<String>,
    pub next_due: Option<String>,
    pub overdue: bool,
    /// The run whose retire phase is pending: the new value is in use and the old one still
    /// verifies until `runbook retire` runs.
    pub waiting_for_retire: Option<String>,
    pub retire_due: Option<String>,
    pub retire_overdue: bool,
}

pub(crate) fn rows(library: &Library, statuses: &[crate::status::SecretStatus]) -> Vec<Row> {
    let mut rows: Vec<Row> = library
        .runbooks()
        .map(|runbook| {
            let secret = runbook.secret.as_ref();
            let status = secret.and_then(|s| statuses.iter().find(|st| st.secret == s.id.value));
            Row {
                last_rotated: status.and_then(|s| s.last_rotated.clone()),
                next_due: status.and_then(|s| s.next_due.clone()),
                overdue: status.is_some_and(|s| s.overdue),
                waiting_for_retire: status.and_then(|s| s.waiting_for_retire.clone()),
                retire_due: status.and_then(|s| s.retire_due.clone()),
                retire_overdue: status.is_some_and(|s| s.retire_overdue),
                runbook: runbook.name.value.clone(),
                description: runbook.description.clone(),
                mode: runbook.mode.as_str(),
                secret: secret.map(|s| s.id.value.clone()),
                env: secret
                    .map(|s| s.env.iter().map(|e| e.value.clone()).collect())
                    .unwrap_or_default(),
                policy: secret.map(|s| s.every.to_string()),
                impact: secret.map(|s| s.impact.clone()),
                implies: secret
                    .map(|s| s.implies.iter().map(|i| i.value.clone()).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.runbook.cmp(&b.runbook));
    rows
}

pub(crate) fn text(rows: &[Row]) -> String {
    let header = [
        "RUNBOOK",
        "SECRET",
        "ENV",
        "POLICY",
        "LAST ROTATED",
        "NEXT DUE",
        "IMPACT",
    ];
    let day = |t: &Option<String>| {
        t.as_deref()
            .map_or("-".to_string(), |t| t.chars().take(10).collect())
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            // A pending retire is what comes next for that secret, so it takes the column.
            let due = if r.waiting_for_retire.is_some() {
                let overdue = if r.retire_overdue { ", overdue" } else { "" };
                format!("waiting for retire (due {}{overdue})", day(&r.retire_due))
            } else if r.overdue {
                format!("{} (overdue)", day(&r.next_due))
            } else {
                day(&r.next_due)
            };
            vec![
                r.runbook.clone(),
                r.secret.clone().unwrap_or_else(|| "-".into()),
                if r.env.is_empty() {
                    "-".into()
                } else {
                    r.env.join(",")
                },
                r.policy.clone().unwrap_or_else(|| format!("({})", r.mode)),
                if r.secret.is_some() {
                    day(&r.last_rotated)
                } else {
                    "-".into()
                },
                if r.secret.is_some() { due } else { "-".into() },
                r.impact
                    .clone()
                    .unwrap_or_else(|| r.description.clone().unwrap_or_default()),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_string()).collect();
    for row in std::iter::once(&header).chain(&cells) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

pub(crate) fn json(rows: &[Row]) -> String {
    let mut text =
        serde_json::to_string_pretty(rows).expect("list rows always serialise; this is a bug");
    text.push('\n');
    text
}
