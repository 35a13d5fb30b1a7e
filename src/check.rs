//! Semantic validation of a library of runbooks. Every problem is collected, with the file
//! and line it comes from, before anything runs.

pub(crate) mod catalog;
mod convert;
mod filters;
mod graph;
pub(crate) mod health;
mod hosts;
mod library;
pub(crate) mod parsed;
mod phases;
mod sites;
mod steps;
mod templates;
mod values;
mod var_templates;
pub(crate) mod verdict;

use crate::diagnostic::Problem;
use crate::project::{Library, Project};

pub(crate) use convert::{checked, checked_values};
pub(crate) use sites::{Role, sites};

/// The one kind of a deserialized step, or `None` when it declares none or several (which
/// `steps` reports): the checks that read a step's kind pass over such a step.
fn one_kind(step: &crate::model::Step) -> Option<crate::model::KindRef<'_>> {
    match step.kinds().as_slice() {
        [kind] => Some(*kind),
        _ => None,
    }
}

/// The checks of one runbook on its own.
fn check_runbook(
    project: &Project,
    runbook: &crate::load::Loaded<crate::model::Runbook>,
) -> Vec<Problem> {
    let mut problems = steps::check_runbook(runbook);
    let graph = graph::check_graph(runbook, &mut problems);
    problems.extend(templates::check_templates(project, runbook, &graph));
    problems.extend(filters::check_filters(runbook));
    problems.extend(values::check_values(project, runbook));
    problems.extend(phases::check_phases(runbook));
    problems.extend(hosts::check_hosts(project, runbook));
    problems.extend(hosts::check_rolling(runbook));
    problems
}

/// Checks every runbook of the library and the library as a whole.
pub(crate) fn check_library(project: &Project, library: &Library) -> Vec<Problem> {
    let mut problems = Vec::new();
    for runbook in &library.runbooks {
        problems.extend(check_runbook(project, runbook));
    }
    // A file that did not load is checked as it reads with its offending fields erased, so
    // that its other problems are reported too; what is found in the erased parts may be
    // caused by the erasure and is left out.
    for repaired in &library.repaired {
        let found = check_runbook(project, &repaired.loaded);
        problems.extend(found.into_iter().filter(|p| {
            p.labels
                .first()
                .is_some_and(|(span, _)| repaired.trusted(span.offset()))
        }));
    }
    problems.extend(library::check_cross(library));
    problems.extend(var_templates::check_restart_driver(project));
    problems.extend(filters::check_driver_filters(project));
    problems.extend(values::check_driver(project));
    problems
}
