//! `report`: the post-incident report, gathered from the run's events — timeline, secrets
//! rotated with keyed fingerprints, impact, what the operator confirmed, failures — and
//! rendered by `report::incident`. It never holds a secret value.

use crate::checked::RunbookIx;
use crate::failure::ErrorKind;
use crate::operator::operator;
use crate::plan::NodeIx;
use std::collections::BTreeMap;
use std::path::Path;

use super::StepError;
use super::{Done, StepRun};
use crate::events::{EventKind, StepStatus};
use crate::model::ReportSpec;
use crate::report::incident::{Incident, SecretRow, markdown};

pub(super) async fn run(run: &StepRun, spec: &ReportSpec) -> Result<Done, StepError> {
    let path = run.ctx.project.resolve(&run.render(&spec.path)?);
    let title = match &spec.title {
        Some(title) => run.render(title)?,
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

/// Gathers what the report says — the timeline from the journal, each secret's state and
/// keyed fingerprint — and writes it, masked, through the host.
async fn write_report(run: &StepRun, path: &Path, title: &str) -> Result<(), StepError> {
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
    let done: std::collections::BTreeSet<NodeIx> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepFinished {
                step,
                status: StepStatus::Done | StepStatus::Skipped,
                ..
            } => ctx.plan.node_named(step),
            _ => None,
        })
        .collect();
    let mut secrets: Vec<SecretRow<'_>> = Vec::new();
    for &rb in &ctx.plan.runbooks {
        let runbook = ctx.runbook(rb);
        let Some(secret) = runbook.secret.as_ref() else {
            continue;
        };
        let touched = done
            .iter()
            .flat_map(|n| ctx.plan.node(*n).steps())
            .any(|(r, _)| r == rb);
        let state = if ctx.plan.runbook_complete(rb, runbook.steps.len(), &done) {
            "rotated"
        } else if touched {
            "partly rotated"
        } else {
            "not rotated"
        };
        secrets.push(SecretRow {
            id: &secret.id.value,
            env: secret.env.iter().map(|e| e.value.as_str()).collect(),
            state,
            fingerprint: current_fingerprint(run, rb, &key)
                .await
                .unwrap_or_else(|| "-".into()),
            impact: &secret.impact,
        });
    }
    let out = markdown(&Incident {
        title,
        run_id: &ctx.run.id,
        mode: &ctx.run.mode,
        started: &ctx.run.started,
        operator: operator(),
        target: ctx.run.target.as_deref(),
        secrets,
        history: &history,
    });
    let text = ctx.redactor.redact(&out);
    Ok(ctx
        .host
        .write_atomic(path, text.as_bytes(), Some(0o644))
        .await?)
}

/// The keyed fingerprint of the value a rotation runbook's first variable holds now, read
/// through the host.
async fn current_fingerprint(run: &StepRun, rb: RunbookIx, key: &[u8]) -> Option<String> {
    let ctx = &run.ctx;
    let secret = ctx.runbook(rb).secret.as_ref()?;
    let bytes = ctx.host.read(&ctx.secret_file(rb).ok()?).await.ok()??;
    crate::fingerprint::of_env_value(bytes, &secret.env.first()?.value, key)
}
