//! `report`: the post-incident report (Markdown), written from the run's events: timeline,
//! secrets rotated with keyed fingerprints, impact, what the operator confirmed, failures.
//! It never holds a secret value.

use crate::failure::ErrorKind;
use crate::operator::operator;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use super::StepError;
use super::{Done, StepRun};
use crate::events::{EventKind, StepStatus};
use crate::model::ReportSpec;

pub(super) async fn run(run: &StepRun, spec: &ReportSpec) -> Result<Done, StepError> {
    let path = run
        .ctx
        .project
        .resolve(&run.ctx.render(run.rb, &spec.path)?);
    let title = match &spec.title {
        Some(title) => run.ctx.render(run.rb, title)?,
        None => format!(
            "Incident report: {}",
            run.ctx.runbook(run.ctx.plan.root).name.value
        ),
    };
    write_report(run, &path, &title).await?;
    Ok(Done {
        outputs: crate::template::value_of(BTreeMap::from([("path", path.display().to_string())])),
        compensation: None,
    })
}

pub(crate) async fn write_report(run: &StepRun, path: &Path, title: &str) -> Result<(), StepError> {
    let ctx = &run.ctx;
    let key = crate::fingerprint::install_key(&ctx.project.state_dir)
        .map_err(|e| StepError::new(ErrorKind::Journal, e.to_string()))?;
    // The journal holds the whole timeline, also what happened before a `resume`; a durable
    // record first makes sure everything queued before it is in the file.
    ctx.durable
        .journal
        .durable(&crate::journal::Record::Note {
            text: "report".into(),
            detail: BTreeMap::new(),
        })
        .await
        .map_err(|e| StepError::new(ErrorKind::Journal, e))?;
    let history: Vec<crate::events::Event> =
        crate::journal::read_journal(&ctx.durable.state.journal_path(&ctx.run.id))
            .map_err(|e| StepError::new(ErrorKind::Journal, e.to_string()))?
            .into_iter()
            .filter_map(|r| match r {
                crate::journal::Record::Event { event } => Some(event),
                _ => None,
            })
            .collect();
    let done: std::collections::BTreeSet<usize> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepFinished {
                step,
                status: StepStatus::Done | StepStatus::Skipped,
                ..
            } => ctx.plan.nodes.iter().position(|n| &n.name == step),
            _ => None,
        })
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "# {title}\n");
    let _ = writeln!(out, "- Run: `{}` ({} mode)", ctx.run.id, ctx.run.mode);
    let _ = writeln!(out, "- Started: {}", ctx.run.started);
    let _ = writeln!(out, "- Operator: {}", operator());
    if let Some(target) = &ctx.run.target {
        let _ = writeln!(out, "- Compromised secret: `{target}`");
    }
    let _ = writeln!(out, "\n## Secrets rotated\n");
    let _ = writeln!(
        out,
        "| secret | variables | state | new value (keyed fingerprint) | impact |\n|---|---|---|---|---|"
    );
    for &rb in &ctx.plan.runbooks {
        let runbook = ctx.runbook(rb);
        let Some(secret) = &runbook.secret else {
            continue;
        };
        let touched = done
            .iter()
            .flat_map(|n| ctx.plan.nodes[*n].steps())
            .any(|(r, _)| r == rb);
        let state = if ctx.plan.runbook_complete(rb, runbook.steps.len(), &done) {
            "rotated"
        } else if touched {
            "partly rotated"
        } else {
            "not rotated"
        };
        let fingerprint =
            crate::exec::session::current_fingerprint(ctx, rb, &key).unwrap_or_else(|| "-".into());
        let env: Vec<&str> = secret.env.iter().map(|e| e.value.as_str()).collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {state} | `{fingerprint}` | {} |",
            secret.id.value,
            env.join(", "),
            secret.impact
        );
    }
    let _ = writeln!(out, "\n## Timeline\n");
    for event in &history {
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
    let _ = writeln!(out, "\n## What the operator confirmed\n");
    let mut any = false;
    for event in &history {
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
            for recorded in &history {
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
    let text = ctx.redactor.redact(&out);
    Ok(ctx
        .host
        .write_atomic(path, text.as_bytes(), Some(0o644))
        .await?)
}
