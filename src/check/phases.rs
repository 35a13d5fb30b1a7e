//! Phases: `phase: retire` only where the secret declares an `overlap`, an overlap only with
//! something to retire, and never an activate step that waits for a retire step (the activate
//! phase would never end).

use std::collections::HashSet;

use crate::diagnostic::Problem;
use crate::load::Loaded;
use crate::model::{Phase, Runbook};

const CODE: &str = "runbook::check::phase";

pub(super) fn check_phases(loaded: &Loaded<Runbook>) -> Vec<Problem> {
    let mut problems = retire_without_overlap(loaded);
    problems.extend(overlap_problems(loaded));
    problems.extend(activate_needing_retire(loaded));
    problems
}

/// A step in the retire phase where the secret declares no overlap (or there is no secret).
fn retire_without_overlap(loaded: &Loaded<Runbook>) -> Vec<Problem> {
    let runbook = &loaded.value;
    let overlap = runbook.secret.as_ref().and_then(|s| s.overlap.as_ref());
    let mut problems = Vec::new();
    for step in &runbook.steps {
        let Some(phase) = &step.phase else { continue };
        if phase.value != Phase::Retire || overlap.is_some() {
            continue;
        }
        let (message, label) = match &runbook.secret {
            Some(secret) => (
                format!(
                    "step `{}` is in the retire phase, but secret `{}` declares no `overlap`",
                    step.id.value, secret.id.value
                ),
                "add `overlap: 7d` (how long the old value keeps verifying) under `secret:`, or remove this",
            ),
            None => (
                format!(
                    "step `{}` is in the retire phase, but `{}` rotates no secret of its own",
                    step.id.value, runbook.name.value
                ),
                "phases belong to rotation runbooks (those with `secret:`)",
            ),
        };
        problems.push(
            Problem::new(CODE, message)
                .in_file(&loaded.source)
                .label_at(&phase.referenced, label),
        );
    }
    problems
}

/// An overlap of no time, or one with nothing marked to retire.
fn overlap_problems(loaded: &Loaded<Runbook>) -> Vec<Problem> {
    let runbook = &loaded.value;
    let source = &loaded.source;
    let Some(overlap) = runbook.secret.as_ref().and_then(|s| s.overlap.as_ref()) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    if overlap.value.duration.is_zero() {
        problems.push(
            Problem::new(
                CODE,
                format!(
                    "`overlap: {}` keeps the old value for no time",
                    overlap.value
                ),
            )
            .in_file(source)
            .label_at(
                &overlap.referenced,
                "remove `overlap` (and `phase: retire`) for a rotation in one run",
            ),
        );
    }
    if !runbook.steps.iter().any(|s| s.phase() == Phase::Retire) {
        problems.push(
            Problem::new(
                CODE,
                "`overlap` is set, but no step is marked `phase: retire`: nothing would stop the old value from verifying",
            )
            .in_file(source)
            .label_at(&overlap.referenced, "mark the steps that remove the old value `phase: retire`"),
        );
    }
    problems
}

/// An activate step that needs a retire step: the activate phase would never end.
fn activate_needing_retire(loaded: &Loaded<Runbook>) -> Vec<Problem> {
    let runbook = &loaded.value;
    // A set, not a scan of every step per need: a runbook of 10,000 steps made this check
    // quadratic.
    let retire: HashSet<&str> = runbook
        .steps
        .iter()
        .filter(|s| s.phase() == Phase::Retire)
        .map(|s| s.id.value.as_str())
        .collect();
    let mut problems = Vec::new();
    if retire.is_empty() {
        return problems;
    }
    for step in runbook
        .steps
        .iter()
        .filter(|s| s.phase() == Phase::Activate)
    {
        for need in &step.needs {
            if retire.contains(need.value.as_str()) {
                problems.push(
                    Problem::new(
                        CODE,
                        format!(
                            "step `{}` (activate phase) needs `{}`, which is in the retire phase",
                            step.id.value, need.value
                        ),
                    )
                    .in_file(&loaded.source)
                    .label_at(
                        &need.referenced,
                        "the activate phase ends before any retire step runs: mark this step `phase: retire` too, or drop this need",
                    ),
                );
            }
        }
    }
    problems
}
