//! Semantic validation of a library of runbooks. Every problem is collected, with the file
//! and line it comes from, before anything runs.

mod filters;
mod graph;
pub(crate) mod health;
mod library;
mod sites;
mod steps;
mod templates;
mod values;

use crate::diagnostic::Problem;
use crate::project::{Library, Project};

pub(crate) use sites::{Role, sites};

/// Checks every runbook of the library and the library as a whole.
pub(crate) fn check_library(project: &Project, library: &Library) -> Vec<Problem> {
    let mut problems = Vec::new();
    for runbook in &library.runbooks {
        problems.extend(steps::check_runbook(runbook));
        let graph = graph::check_graph(runbook, &mut problems);
        problems.extend(templates::check_templates(project, runbook, &graph));
        problems.extend(filters::check_filters(runbook));
        problems.extend(values::check_values(project, runbook));
    }
    problems.extend(library::check_cross(library));
    problems.extend(templates::check_restart_driver(project));
    problems.extend(filters::check_driver_filters(project));
    problems.extend(values::check_driver(project));
    problems
}
