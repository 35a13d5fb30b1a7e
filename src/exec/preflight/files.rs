//! The files of this machine a run rewrites, checked before anything changes: an env file
//! exists and holds the keys its step sets, and every rewritten file can be replaced and keep
//! its owner. A host's files are checked over SSH by `hosts.rs`.

use std::collections::BTreeSet;

use super::env_files::EnvFiles;
use super::{active_nodes, problem};
use crate::checked::{Library, RunbookIx, StepIx, StepKind};
use crate::diagnostic::Problem;
use crate::plan::Plan;
use crate::project::Project;
use crate::template::render;

/// Checks that every env file an env step edits exists and has its keys (unless the step
/// opts in), and that every file a step rewrites can keep its owner; returns those files.
pub(super) fn check_files(
    project: &Project,
    library: &Library,
    plan: &Plan,
    active: &BTreeSet<(RunbookIx, StepIx)>,
    files: &EnvFiles<'_>,
    problems: &mut Vec<Problem>,
) -> BTreeSet<std::path::PathBuf> {
    let env = crate::template::shared();
    let mut edited = BTreeSet::new();
    // A host's files are checked over SSH by `hosts.rs`.
    for (node, rb, step) in active_nodes(plan, library, active).filter(|(n, ..)| n.host.is_none()) {
        if let StepKind::File(spec) = &step.kind {
            let ctx = minijinja::context! { vars => project.vars_for(&library.runbook(rb).vars) };
            if let Ok(path) = render(env, &spec.path, &ctx) {
                let path = project.resolve(&path);
                let replacing = crate::atomic::replacing(&path);
                if let Some(message) = &replacing.ownership {
                    problems.push(problem(format!("step `{}`: {message}", node.name)));
                }
                check_replaceable(&node.name, &path, replacing, &edited, problems);
                edited.insert(path);
            }
        }
        let StepKind::Env(spec) = &step.kind else {
            continue;
        };
        let Some(path) = files.file_of(rb, spec.file.as_ref()) else {
            continue;
        };
        let replacing = crate::atomic::replacing(&path);
        let ownership = replacing.ownership.clone();
        check_replaceable(&node.name, &path, replacing, &edited, problems);
        edited.insert(path.clone());
        // Checked before anything runs: a rewrite that cannot keep the file's owner and group
        // is refused mid-run otherwise (see `atomic::write_atomic`).
        if let Some(message) = ownership {
            problems.push(problem(format!("step `{}`: {message}", node.name)));
            continue;
        }
        if spec.create && !path.exists() {
            continue;
        }
        match files.read(&path).as_ref() {
            Ok(file) => {
                for key in spec.set.keys() {
                    if file.get(key).is_none() && !spec.append {
                        problems.push(problem(format!(
                            "step `{}`: key `{key}` is not in `{}` (set `append: true` to add it)",
                            node.name,
                            path.display()
                        )));
                    }
                }
            }
            Err(message) => problems.push(problem(format!("step `{}`: {message}", node.name))),
        }
    }
    edited
}

/// Refuses a file that cannot be replaced (immutable, append-only) before anything runs,
/// and warns once about a read-only one, which the edit replaces anyway.
fn check_replaceable(
    step: &str,
    path: &std::path::Path,
    replacing: crate::atomic::Replacing,
    seen: &BTreeSet<std::path::PathBuf>,
    problems: &mut Vec<Problem>,
) {
    if let Some(message) = replacing.blocked {
        problems.push(problem(format!("step `{step}`: {message}")));
    } else if !seen.contains(path)
        && let Some(warning) = replacing.read_only
    {
        tracing::warn!("{warning}");
    }
}
