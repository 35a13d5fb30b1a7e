//! Which runbooks a run includes: the requested one, and for each `rotate` step the
//! rotation runbooks of its secret's `implies` closure, with the order between them.

use crate::fasthash::Map as HashMap;

use crate::checked::{Library, RunbookIx, StepIx, StepKind};
use crate::diagnostic::Problem;
use crate::project::Project;

use super::target::{conflicts_of, implies_of, missing_secret, render_target, unknown_secret};
use super::{PlanRequest, first_conflict, implied_closure, problem};

/// The runbooks a run includes and how the `rotate` steps of its root expand into them.
#[derive(Debug, Default)]
pub(super) struct Expansion {
    /// The included rotation runbooks, in the order they were reached.
    pub included: Vec<RunbookIx>,
    /// Which rotation runbooks each `rotate` step of the root expands into.
    pub rotations: HashMap<StepIx, Vec<RunbookIx>>,
    /// (implying runbook, implied runbook): the second starts once the first's edits are done.
    pub implied_after: Vec<(RunbookIx, RunbookIx)>,
}

/// The requested runbook, or a problem that suggests the nearest name.
pub(super) fn find_root(library: &Library, request: &PlanRequest) -> Result<RunbookIx, Problem> {
    if let Some(root) = library.named(&request.runbook) {
        return Ok(root);
    }
    let names: Vec<&str> = library.runbooks().map(|r| r.name.value.as_str()).collect();
    let p = problem(format!("no runbook is named `{}`", request.runbook));
    Err(
        match crate::diagnostic::did_you_mean(&request.runbook, names.iter().copied()) {
            Some(s) => p.help(format!("did you mean `{s}`?")),
            None => p.help(format!("runbooks: {}", names.join(", "))),
        },
    )
}

/// Expands every `rotate` step of the root runbook over the `implies` closure of its secret.
pub(super) fn expand_rotations(
    project: &Project,
    library: &Library,
    request: &PlanRequest,
    root: RunbookIx,
    target: Option<&String>,
) -> Result<Expansion, Problem> {
    let root_runbook = library.runbook(root);
    let mut expansion = Expansion::default();
    if root_runbook.secret.is_some() {
        expansion.included.push(root);
    }
    for (step_index, step) in root_runbook.indexed_steps() {
        let StepKind::Rotate(rotate) = &step.kind else {
            continue;
        };
        let secret = match &rotate.secret {
            Some(s) => render_target(project, root_runbook, request, &s.value)?,
            None => target
                .cloned()
                .ok_or_else(|| missing_secret(library, &request.runbook))?,
        };
        let owner = library
            .secret_owner(&secret)
            .ok_or_else(|| unknown_secret(library, &secret))?;
        let start = owner
            .secret
            .as_ref()
            .map(|s| s.id.value.clone())
            .unwrap_or_default();
        let secrets = if rotate.implied {
            implied_closure(&start, |id| implies_of(library, id))
        } else {
            vec![start]
        };
        if let Some((a, b)) = first_conflict(&secrets, |id| conflicts_of(library, id)) {
            return Err(Problem::new(
                "runbook::plan::conflict",
                format!("secrets `{a}` and `{b}` must never rotate in the same run, but this plan would rotate both ({})", secrets.join(", ")),
            )
            .help(format!("rotate them in two runs: first `--secret {a}`, then `--secret {b}` in a separate run")));
        }
        // Each implied secret rotates after the first secret of the closure that implies it.
        for (i, secret) in secrets.iter().enumerate().skip(1) {
            let parent = secrets[..i]
                .iter()
                .find(|p| implies_of(library, p).contains(secret));
            if let (Some(parent), Some(child)) = (
                parent.and_then(|p| library.owner_of(p)),
                library.owner_of(secret),
            ) {
                expansion.implied_after.push((parent, child));
            }
        }
        let mut expanded = Vec::new();
        for secret in &secrets {
            let index = library
                .owner_of(secret)
                .expect("closure secrets have owners; this is a bug");
            if !expansion.included.contains(&index) {
                expansion.included.push(index);
                expanded.push(index);
            }
        }
        expansion.rotations.insert(step_index, expanded);
    }
    Ok(expansion)
}
