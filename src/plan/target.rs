//! What a run targets: `--secret` resolved to a secret id, `rotate` targets rendered, and the
//! `implies` / `conflicts` edges of the library by secret id.

use std::collections::BTreeMap;

use super::{PlanRequest, problem};
use crate::checked::{Library, Runbook, StepKind};
use crate::diagnostic::Problem;
use crate::project::Project;
use crate::template::{environment, is_template, render};

pub(super) fn implies_of(library: &Library, id: &str) -> Vec<String> {
    library
        .secret_owner(id)
        .and_then(|r| r.secret.as_ref())
        .map_or_else(Vec::new, |s| {
            s.implies
                .iter()
                .filter_map(|i| library.secret_owner(&i.value))
                .filter_map(|r| r.secret.as_ref().map(|s| s.id.value.clone()))
                .collect()
        })
}

pub(super) fn conflicts_of(library: &Library, id: &str) -> Vec<String> {
    library
        .secret_owner(id)
        .and_then(|r| r.secret.as_ref())
        .map_or_else(Vec::new, |s| {
            s.conflicts
                .iter()
                .filter_map(|i| library.secret_owner(&i.value))
                .filter_map(|r| r.secret.as_ref().map(|s| s.id.value.clone()))
                .collect()
        })
}

/// Resolves `--secret` to a secret id, or explains why it does not apply.
pub(super) fn resolve_target(
    library: &Library,
    root: &Runbook,
    request: &PlanRequest,
) -> Result<Option<String>, Problem> {
    let Some(key) = &request.secret else {
        return Ok(None);
    };
    let owner = library
        .secret_owner(key)
        .ok_or_else(|| unknown_secret(library, key))?;
    let id = owner
        .secret
        .as_ref()
        .map(|s| s.id.value.clone())
        .unwrap_or_default();
    let has_rotate = root
        .steps
        .iter()
        .any(|s| matches!(&s.kind, StepKind::Rotate(r) if r.secret.is_none()));
    let is_own = root.secret.as_ref().is_some_and(|s| s.id.value == id);
    if !has_rotate && !is_own {
        return Err(problem(format!(
            "runbook `{}` does not take `--secret` (it has no `rotate` step without a fixed secret)",
            root.name.value
        ))
        .help(format!("to rotate `{id}`, run `runbook run {}`", owner.name.value)));
    }
    Ok(Some(id))
}

pub(super) fn render_target(
    project: &Project,
    runbook: &Runbook,
    request: &PlanRequest,
    text: &str,
) -> Result<String, Problem> {
    if !is_template(text) {
        return Ok(text.to_string());
    }
    let mut inputs = BTreeMap::new();
    for (name, spec) in &runbook.inputs {
        if let Some(value) = request.inputs.get(name).or(spec.default.as_ref()) {
            inputs.insert(name.clone(), value.clone());
        }
    }
    let ctx = minijinja::context! { vars => project.vars_for(&runbook.vars), inputs => inputs };
    render(&environment(), text, &ctx).map_err(|e| problem(format!("rotate target: {e}")))
}

pub(crate) fn unknown_secret(library: &Library, key: &str) -> Problem {
    Problem::new(
        "runbook::plan::unknown_secret",
        format!("no runbook owns a secret `{key}`"),
    )
    .help(format!("valid ids: {}", library.secret_ids().join(", ")))
}

pub(super) fn missing_secret(library: &Library, runbook: &str) -> Problem {
    problem(format!(
        "runbook `{runbook}` needs `--secret ID`: which secret is compromised?"
    ))
    .help(format!("valid ids: {}", library.secret_ids().join(", ")))
}
