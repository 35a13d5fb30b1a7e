//! What an incident run says when it pauses: which secrets are rotated, partly rotated and
//! not rotated, since nothing compromised is ever put back.

use std::collections::BTreeSet;

use super::compensate::Completed;
use crate::plan::NodeIx;
use crate::steps::context::RunContext;

/// What an incident run leaves when it pauses: which secrets are rotated and which are not.
pub(super) fn paused_summary(ctx: &RunContext, completed: &[Completed], cause: &str) -> String {
    let done: BTreeSet<NodeIx> = completed.iter().map(|c| c.node).collect();
    let mut rotated = Vec::new();
    let mut untouched = Vec::new();
    let mut partial = Vec::new();
    for &rb in &ctx.plan.runbooks {
        let runbook = ctx.runbook(rb);
        let Some(secret) = &runbook.secret else {
            continue;
        };
        let id = secret.id.value.clone();
        let touched = done
            .iter()
            .flat_map(|n| ctx.plan.node(*n).steps())
            .any(|(r, _)| r == rb);
        if ctx.plan.runbook_complete(rb, runbook.steps.len(), &done) {
            rotated.push(id);
        } else if touched {
            partial.push(id);
        } else {
            untouched.push(id);
        }
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    format!(
        "{cause}; incident run paused, nothing was restored (a compromised value is never put back). rotated: {}; partly rotated: {}; not rotated: {}. Fix the cause, then `runbook resume {}`",
        list(&rotated),
        list(&partial),
        list(&untouched),
        ctx.run.id
    )
}
