//! `report`: the post-incident report (Markdown), written from the run's events: timeline,
//! secrets rotated with keyed fingerprints, impact, what the operator confirmed, failures.
//! It never holds a secret value.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use super::{Done, StepRun};
use crate::exec::context::StepError;
use crate::exec::events::{EventKind, StepStatus};
use crate::model::ReportSpec;

pub async fn run(run: &StepRun, spec: &ReportSpec) -> Result<Done, StepError> {
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
    write_report(run, &path, &title)?;
    Ok(Done {
        outputs: crate::template::value_of(BTreeMap::from([("path", path.display().to_string())])),
        compensation: None,
    })
}

pub fn write_report(run: &StepRun, path: &Path, title: &str) -> Result<(), StepError> {
    let ctx = &run.ctx;
    let key = crate::fingerprint::install_key(&ctx.project.state_dir)
        .map_err(|e| StepError::new(e.to_string()))?;
    let history = ctx.emitter.history();
    let finished: BTreeMap<String, StepStatus> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepFinished { step, status, .. } => Some((step.clone(), *status)),
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
        let steps: Vec<String> = runbook
            .steps
            .iter()
            .map(|s| format!("{}/{}", runbook.name.value, s.id.value))
            .collect();
        let done = steps
            .iter()
            .filter(|s| {
                finished.get(*s) == Some(&StepStatus::Done)
                    || finished.get(*s) == Some(&StepStatus::Skipped)
            })
            .count();
        let state = if done == steps.len() {
            "rotated"
        } else if done == 0 {
            "not rotated"
        } else {
            "partly rotated"
        };
        let fingerprint = current_fingerprint(run, rb, &key).unwrap_or_else(|| "-".into());
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
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| StepError::new(format!("cannot create `{}`: {e}", parent.display())))?;
    }
    crate::atomic::write_atomic(path, text.as_bytes(), Some(0o644))
        .map_err(|e| StepError::new(e.to_string()))
}

/// The keyed fingerprint of the value a rotation runbook's first variable holds now.
fn current_fingerprint(run: &StepRun, rb: usize, key: &[u8]) -> Option<String> {
    let secret = run.ctx.runbook(rb).secret.as_ref()?;
    let file = run.ctx.secret_file(rb).ok()?;
    let bytes = std::fs::read(file).ok()?;
    let value = crate::envfile::EnvFile::parse(&bytes)
        .ok()?
        .get(&secret.env.first()?.value)?;
    Some(crate::fingerprint::fingerprint(key, &value))
}

/// Who ran this: the invoking user behind sudo when there is one.
pub fn operator() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid {}", rustix::process::getuid().as_raw()))
}
