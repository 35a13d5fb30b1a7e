//! What a run's end leaves in the audit log and the rotation record: an entry per secret it
//! handled, never "rotated" for one whose rotation did not complete, and keyed fingerprints
//! (never values) of what it changed and kept.

use std::collections::BTreeMap;

use super::scheduler::RunResult;
use super::session::phase_name;
use crate::audit::{AuditEntry, KeptFile, Rotation};
use crate::checked::RunbookIx;
use crate::events::Outcome;
use crate::steps::context::RunContext;

/// The audit entry of each secret the run handled, and the rotations it completed. The log
/// never says "rotated" for a secret whose rotation did not complete.
pub(super) fn audit_of(
    ctx: &RunContext,
    result: &RunResult,
    aborted: bool,
    ended: &str,
    kept: &[String],
) -> (Vec<AuditEntry>, BTreeMap<String, Rotation>) {
    let key = crate::fingerprint::install_key(&ctx.durable.state.root).ok();
    let kept = match &key {
        Some(key) => kept_files(ctx, key, kept),
        None => Vec::new(),
    };
    let mut entries = Vec::new();
    let mut rotated = BTreeMap::new();
    for &rb in &ctx.plan.runbooks {
        let runbook = ctx.runbook(rb);
        let Some(secret) = &runbook.secret else {
            continue;
        };
        let complete = ctx
            .plan
            .runbook_complete(rb, runbook.steps.len(), &result.in_effect);
        let outcome = audit_outcome(aborted, result.outcome, complete);
        let fingerprint = key.as_deref().and_then(|k| current_fingerprint(ctx, rb, k));
        if outcome == "rotated" {
            rotated.insert(
                secret.id.value.clone(),
                Rotation {
                    last_rotated: Some(ended.to_string()),
                    run_id: Some(ctx.run.id.clone()),
                    fingerprint: fingerprint.clone(),
                    waiting_for_retire: None,
                },
            );
        }
        entries.push(AuditEntry {
            secret: secret.id.value.clone(),
            run_id: ctx.run.id.clone(),
            runbook: ctx.runbook(ctx.plan.root).name.value.clone(),
            mode: ctx.run.mode.clone(),
            operator: crate::steps::operator(),
            started: ctx.run.started.clone(),
            ended: ended.to_string(),
            outcome: outcome.to_string(),
            fingerprint,
            phase: phase_name(result.stage).map(str::to_string),
            kept: kept.clone(),
        });
    }
    (entries, rotated)
}

/// What the audit log says of one secret: `complete` when every step of its runbook is in
/// effect.
fn audit_outcome(aborted: bool, outcome: Outcome, complete: bool) -> &'static str {
    match (aborted, outcome, complete) {
        (true, _, _) => "aborted",
        (false, Outcome::Done, _)
        | (false, Outcome::Paused | Outcome::Interrupted | Outcome::AwaitingOperator, true) => {
            "rotated"
        }
        // Its last steps (the functional test, revoking the old credential) wait for a
        // person: the old credential may still be live, so this is not "rotated".
        (false, Outcome::AwaitingOperator, false) => "awaiting_operator",
        (false, Outcome::RolledBack, _) => "rolled_back",
        (false, Outcome::Paused, false) => "paused",
        (false, Outcome::Interrupted, false) => "interrupted",
        (false, Outcome::NeedsOperator, _) => "needs_operator",
        // The new value is in use and the old one still verifies: not "rotated" yet.
        (false, Outcome::WaitingForRetire, _) => crate::audit::WAITING_FOR_RETIRE,
    }
}

/// The pending files kept between the phases, each with its keyed fingerprint (never its
/// content) for the audit log.
fn kept_files(ctx: &RunContext, key: &[u8], kept: &[String]) -> Vec<KeptFile> {
    let pending = ctx.durable.state.pending_dir(&ctx.durable.run_id);
    kept.iter()
        .filter_map(|file| {
            let bytes = std::fs::read(pending.join(file)).ok()?;
            Some(KeptFile {
                file: file.clone(),
                fingerprint: crate::fingerprint::fingerprint(key, &String::from_utf8_lossy(&bytes)),
            })
        })
        .collect()
}

/// The keyed fingerprint of the value a rotation runbook's first variable holds now.
fn current_fingerprint(ctx: &RunContext, rb: RunbookIx, key: &[u8]) -> Option<String> {
    let secret = ctx.runbook(rb).secret.as_ref()?;
    // A secret kept on inventory hosts has no single file here to fingerprint.
    if ctx.runbook(rb).on.is_some() {
        return None;
    }
    let bytes = std::fs::read(ctx.secret_file(rb).ok()?).ok()?;
    crate::fingerprint::of_env_value(bytes, &secret.env.first()?.value, key)
}
