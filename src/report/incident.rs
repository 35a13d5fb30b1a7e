//! The post-incident report as Markdown: the run, the secrets and how far each got, the
//! timeline, what the operator confirmed (with what they recorded, quoted), and the failures.

use std::fmt::Write;

use crate::events::{Event, EventKind, StepStatus};

/// What the report is made of; the `report` step gathers it.
pub(crate) struct Incident<'a> {
    pub title: &'a str,
    pub run_id: &'a str,
    pub mode: &'a str,
    pub started: &'a str,
    pub operator: String,
    /// The compromised secret, in an incident run.
    pub target: Option<&'a str>,
    pub secrets: Vec<SecretRow<'a>>,
    /// The run's events, from the journal.
    pub history: &'a [Event],
}

/// One secret of the run, and how far its rotation got.
pub(crate) struct SecretRow<'a> {
    pub id: &'a str,
    pub env: Vec<&'a str>,
    /// `rotated`, `partly rotated` or `not rotated`.
    pub state: &'static str,
    /// The keyed fingerprint of the value in place now, or `-`.
    pub fingerprint: String,
    pub impact: &'a str,
}

pub(crate) fn markdown(incident: &Incident<'_>) -> String {
    let mut out = String::new();
    header(&mut out, incident);
    secrets(&mut out, &incident.secrets);
    timeline(&mut out, incident.history);
    confirmed(&mut out, incident.history);
    failures(&mut out, incident.history);
    out
}

fn header(out: &mut String, incident: &Incident<'_>) {
    let _ = writeln!(out, "# {}\n", incident.title);
    let _ = writeln!(out, "- Run: `{}` ({} mode)", incident.run_id, incident.mode);
    let _ = writeln!(out, "- Started: {}", incident.started);
    let _ = writeln!(out, "- Operator: {}", incident.operator);
    if let Some(target) = incident.target {
        let _ = writeln!(out, "- Compromised secret: `{target}`");
    }
}

fn secrets(out: &mut String, rows: &[SecretRow<'_>]) {
    let _ = writeln!(out, "\n## Secrets rotated\n");
    let _ = writeln!(
        out,
        "| secret | variables | state | new value (keyed fingerprint) | impact |\n|---|---|---|---|---|"
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | `{}` | {} |",
            row.id,
            row.env.join(", "),
            row.state,
            row.fingerprint,
            row.impact
        );
    }
}

fn timeline(out: &mut String, history: &[Event]) {
    let _ = writeln!(out, "\n## Timeline\n");
    for event in history {
        let line = match &event.kind {
            EventKind::RunStarted { runbook, .. } => format!("run of `{runbook}` started"),
            EventKind::StepFinished {
                step,
                status,
                error,
                ..
            } => match error {
                Some(error) => format!("`{step}` {status:?}: {error}").to_lowercase(),
                None => format!("`{step}` {}", format!("{status:?}").to_lowercase()),
            },
            EventKind::Operator {
                step,
                acknowledged_by,
                ..
            } => format!("`{step}` confirmed by {acknowledged_by}"),
            EventKind::OperatorInput { step, name, .. } => {
                format!("`{step}` recorded `{name}`")
            }
            EventKind::Warning { message, .. } => format!("warning: {message}"),
            EventKind::CompensationFinished { step, ok, .. } => format!(
                "`{step}` compensated: {}",
                if *ok { "ok" } else { "FAILED" }
            ),
            _ => continue,
        };
        let _ = writeln!(out, "- {} — {line}", event.at);
    }
}

fn confirmed(out: &mut String, history: &[Event]) {
    let _ = writeln!(out, "\n## What the operator confirmed\n");
    let mut any = false;
    for event in history {
        if let EventKind::Operator {
            step,
            instructions,
            acknowledged_by,
        } = &event.kind
        {
            any = true;
            let _ = writeln!(
                out,
                "### `{step}` (confirmed by {acknowledged_by})\n\n{}\n",
                instructions.trim()
            );
            // What the operator entered for this step (findings, say), quoted as written.
            for recorded in history {
                if let EventKind::OperatorInput {
                    step: of,
                    name,
                    value,
                } = &recorded.kind
                    && of == step
                {
                    let quoted: Vec<String> =
                        value.trim().lines().map(|l| format!("> {l}")).collect();
                    let _ = writeln!(out, "**{name}:**\n\n{}\n", quoted.join("\n"));
                }
            }
        }
    }
    if !any {
        let _ = writeln!(out, "Nothing yet.\n");
    }
}

fn failures(out: &mut String, history: &[Event]) {
    let _ = writeln!(out, "## Failures and what was left\n");
    let failures: Vec<String> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepFinished {
                step,
                status: StepStatus::Failed,
                error,
                ..
            } => Some(format!("- `{step}`: {}", error.clone().unwrap_or_default())),
            _ => None,
        })
        .collect();
    if failures.is_empty() {
        let _ = writeln!(out, "None: every step before this report completed.");
    } else {
        let _ = writeln!(out, "{}", failures.join("\n"));
    }
}
