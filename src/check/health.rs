//! One broken runbook must not block the commands that do not need it. The library is split
//! into the runbooks that loaded and checked cleanly and the files that did not; a command
//! that lists or reports goes on with the healthy ones and warns, and a run refuses only when
//! its plan, or a rule about who owns a secret, involves a broken file.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use crate::checked::{self, StepKind};
use crate::diagnostic::Problem;
use crate::load::Outline;
use crate::model::Runbook;
use crate::plan::Plan;
use crate::project::Library;

/// A file with problems (or, with no path, problems of the project itself).
#[derive(Debug)]
pub(crate) struct Broken {
    pub path: Option<PathBuf>,
    pub problems: Vec<Problem>,
    /// What the file is known to be about; `None` when it cannot be read even as YAML, and
    /// then it may own anything.
    pub outline: Option<Outline>,
}

/// The outline of a runbook that loaded.
fn outline_of(runbook: &Runbook) -> Outline {
    Outline {
        name: Some(runbook.name.value.clone()),
        owns: runbook
            .secret
            .iter()
            .flat_map(|s| std::iter::once(&s.id).chain(&s.env))
            .map(|k| k.value.to_ascii_lowercase())
            .collect(),
    }
}

/// Takes every runbook with a problem out of the library and returns the broken files, each
/// with all of its problems. `problems` are the load and check problems of the library;
/// those of the `config` file (the restart driver) concern every run, like those of no file.
pub(crate) fn set_aside(
    library: &mut Library,
    problems: Vec<Problem>,
    config: Option<&std::path::Path>,
) -> Vec<Broken> {
    let mut by_file: BTreeMap<Option<PathBuf>, Vec<Problem>> = BTreeMap::new();
    for problem in problems {
        by_file
            .entry(problem.file().map(std::path::Path::to_path_buf))
            .or_default()
            .push(problem);
    }
    let mut broken = Vec::new();
    for (path, problems) in by_file {
        let outline = match &path {
            None => None,
            Some(path) if Some(path.as_path()) == config => None,
            Some(path) => match library.runbooks.iter().position(|r| &r.source.path == path) {
                Some(index) => Some(outline_of(&library.runbooks.remove(index).value)),
                None => library.unloaded.get(path).cloned().flatten(),
            },
        };
        broken.push(Broken {
            path,
            problems,
            outline,
        });
    }
    broken
}

/// Whether a run of `plan` needs a broken file: the file is one of the plan's runbooks by
/// name, claims a secret id or env name that the plan's runbooks own or rotate, or cannot be
/// read well enough to tell.
pub(crate) fn involved(broken: &Broken, library: &checked::Library, plan: &Plan) -> bool {
    let Some(outline) = &broken.outline else {
        return true;
    };
    let mut names: HashSet<&str> = HashSet::new();
    let mut keys: HashSet<String> = HashSet::new();
    let indices = std::iter::once(plan.root).chain(plan.runbooks.iter().copied());
    for runbook in indices.map(|i| library.runbook(i)) {
        names.insert(&runbook.name.value);
        // What the plan's runbooks merely imply is in the plan only if it is rotated, and
        // then its runbook is one of the plan's (or the plan failed to build).
        if let Some(secret) = &runbook.secret {
            let owned = std::iter::once(&secret.id).chain(&secret.env);
            keys.extend(owned.map(|k| k.value.to_ascii_lowercase()));
        }
        let rotated = runbook.steps.iter().filter_map(|s| match &s.kind {
            StepKind::Rotate(rotate) => rotate.secret.as_ref(),
            _ => None,
        });
        keys.extend(rotated.map(|k| k.value.to_ascii_lowercase()));
    }
    // A run that rotates what its secrets imply would silently skip an implied secret whose
    // runbook is broken: that runbook is needed.
    let root = library.runbook(plan.root);
    if root
        .steps
        .iter()
        .any(|s| matches!(&s.kind, StepKind::Rotate(r) if r.implied))
    {
        let implied = plan
            .runbooks
            .iter()
            .filter_map(|&i| library.runbook(i).secret.as_ref())
            .flat_map(|s| &s.implies);
        keys.extend(implied.map(|k| k.value.to_ascii_lowercase()));
    }
    if let Some(target) = &plan.target {
        keys.insert(target.to_ascii_lowercase());
    }
    outline.name.as_deref().is_some_and(|n| names.contains(n))
        || outline.owns.iter().any(|k| keys.contains(k))
}

/// One line per broken file for commands that go on without it.
pub(crate) fn warnings(broken: &[Broken]) -> Vec<String> {
    broken
        .iter()
        .map(|b| {
            let count = b.problems.len();
            let problems = if count == 1 { "problem" } else { "problems" };
            match &b.path {
                Some(path) => format!(
                    "warning: skipped `{}`: {count} {problems} (`runbook validate` shows them)",
                    path.display()
                ),
                None => format!(
                    "warning: the project has {count} {problems} (`runbook validate` shows them)"
                ),
            }
        })
        .collect()
}
