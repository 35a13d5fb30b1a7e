//! What shell completion offers: the runbook names and run ids of the project in the working
//! directory. A shell asks before any flag is parsed, so the default config applies; anything
//! unreadable simply offers nothing.

use crate::project::{Library, Project, ProjectOptions};
use crate::state::StateDir;

/// Each runbook's name with its description.
pub(crate) fn runbook_names() -> Vec<(String, Option<String>)> {
    let Ok(project) = Project::open(&ProjectOptions::default()) else {
        return Vec::new();
    };
    let library = Library::load(std::slice::from_ref(&project.runbooks_dir));
    let mut names: Vec<(String, Option<String>)> = library
        .runbooks
        .iter()
        .map(|r| (r.value.name.value.clone(), r.value.description.clone()))
        .collect();
    names.sort();
    names
}

/// Each secret id with the variables it owns.
pub(crate) fn secret_ids() -> Vec<(String, Option<String>)> {
    let Ok(project) = Project::open(&ProjectOptions::default()) else {
        return Vec::new();
    };
    let library = Library::load(std::slice::from_ref(&project.runbooks_dir));
    let mut ids: Vec<(String, Option<String>)> = library
        .runbooks
        .iter()
        .filter_map(|r| r.value.secret.as_ref())
        .map(|s| {
            let env: Vec<&str> = s.env.iter().map(|e| e.value.as_str()).collect();
            (
                s.id.value.clone(),
                Some(env.join(", ")).filter(|e| !e.is_empty()),
            )
        })
        .collect();
    ids.sort();
    ids
}

/// Every run in the state directory, newest first, the unfinished one marked.
pub(crate) fn run_ids() -> Vec<(String, Option<String>)> {
    let Ok(project) = Project::open(&ProjectOptions::default()) else {
        return Vec::new();
    };
    let state = StateDir::new(&project.state_dir);
    let active = state.active_run();
    let Ok(entries) = std::fs::read_dir(project.state_dir.join("runs")) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    // Run ids start with their UTC start time, so the reverse order is newest first.
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.into_iter()
        .map(|id| {
            let help = (active.as_deref() == Some(id.as_str())).then(|| "unfinished".to_string());
            (id, help)
        })
        .collect()
}
