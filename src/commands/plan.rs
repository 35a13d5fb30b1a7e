//! `runbook plan RUNBOOK`: the exact DAG a run would execute, shown without running it.

use std::io::Write;

use super::{
    Failure, Global, Outcome, PlanFormat, RunOptions, checked_plan, library_of, project_options,
};
use crate::check::{catalog, checked, checked_values, parsed, verdict};
use crate::checked::Library;
use crate::exit;
use crate::load::Files;
use crate::plan::{Plan, PlanRequest, build};
use crate::project::{self, Project};
use crate::report::plan;

pub(super) fn request(options: &RunOptions) -> PlanRequest {
    PlanRequest {
        runbook: options.runbook.clone(),
        secret: options.secret.clone(),
        // Secret inputs (`@file`) are not needed to plan; literal ones may name rotate targets.
        inputs: options
            .inputs
            .iter()
            .filter(|(_, v)| !v.starts_with('@'))
            .cloned()
            .collect(),
    }
}

pub(super) fn run(global: &Global, options: &RunOptions, format: PlanFormat) -> Outcome {
    let request = request(options);
    let (project, library, built) = open(global, &request)?;
    let view = plan::view(&project, &library, &built, &request.inputs);
    // The text and JSON views are written as they are rendered, never held whole.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let written = match format {
        PlanFormat::Text => plan::write_text(&view, &mut out),
        PlanFormat::Json => plan::write_json(&view, &mut out),
        PlanFormat::Dot => out.write_all(crate::report::plan_graph::dot(&view).as_bytes()),
        PlanFormat::Mermaid => out.write_all(crate::report::plan_graph::mermaid(&view).as_bytes()),
    };
    // A closed pipe (`runbook plan x | head`) is not an error worth a message.
    let _ = written.and_then(|()| out.flush());
    // The process ends here: freeing the view, the plan and the library one allocation at a
    // time would be a fiftieth of a `plan` of 10,000 steps, for memory the exit frees whole.
    // They hold only memory (no file, lock or child), so nothing is lost by not dropping them.
    std::mem::forget(view);
    std::mem::forget(built);
    std::mem::forget(library);
    Ok(exit::DONE)
}

/// The project, the library and the plan, as `open_planned` has them. A library known to
/// have no problem, whose catalog was remembered, is parsed only in the files the plan can
/// involve; anything else (no verdict, no catalog, a plan that fails) takes the whole
/// library, so every problem is reported as it always is.
fn open(global: &Global, request: &PlanRequest) -> Result<(Project, Library, Plan), Failure> {
    let project = Project::open(&project_options(global))?;
    let files = Files::read(std::slice::from_ref(&project.runbooks_dir));
    let key = verdict::key(&project, &files);
    let known = key
        .as_ref()
        .is_some_and(|k| verdict::known_valid(&project, k));
    if let Some(key) = key.as_ref().filter(|_| known)
        && let Some(found) = involved_only(&project, key, &files, request)
    {
        return Ok((project, found.0, found.1));
    }
    let (library, broken) = library_of(&project, files, key, known, true);
    let plan = checked_plan(&project, &library, broken, request)?;
    Ok((project, library, plan))
}

/// The library of only the files the catalog says the plan can involve, and the plan built
/// from it; `None` when the catalog cannot tell or the plan fails (its problem is reported
/// from the whole library).
fn involved_only(
    project: &Project,
    key: &verdict::Key,
    files: &Files,
    request: &PlanRequest,
) -> Option<(Library, Plan)> {
    let catalog = catalog::recall(project, key, files)?;
    let needed = catalog.needed(&request.runbook, request.secret.as_deref())?;
    if let Some(found) = remembered(project, key, files, request, &catalog, &needed) {
        return Some(found);
    }
    tracing::debug!(
        "the plan can involve {} of the library's {} files: only those are parsed",
        needed.len(),
        files.read.len()
    );
    let subset = Files {
        read: needed
            .iter()
            .map(|&i| {
                let (path, text) = &files.read[i];
                Some((path.clone(), Ok(text.as_ref().ok()?.clone())))
            })
            .collect::<Option<_>>()?,
        problems: Vec::new(),
    };
    let library = project::Library::parse(subset);
    // A valid library loads whole; anything else means the catalog is not what it says.
    let as_catalogued = library.problems.is_empty()
        && library.runbooks.len() == needed.len()
        && needed
            .iter()
            .zip(&library.runbooks)
            .all(|(&i, r)| catalog.names(i, &r.value.name.value));
    if !as_catalogued {
        return None;
    }
    parsed::remember(
        project,
        key,
        files.read.len(),
        needed
            .iter()
            .copied()
            .zip(library.runbooks.iter().map(|r| &r.value)),
    );
    let library = checked(library);
    let plan = build(project, &library, request).ok()?;
    Some((library, plan))
}

/// The library of the files the plan can involve as remembered parsed (`check::parsed`),
/// and the plan built from it; `None` when one of them is not remembered, is not the runbook
/// the catalog names, or the plan fails (the files are then parsed).
fn remembered(
    project: &Project,
    key: &verdict::Key,
    files: &Files,
    request: &PlanRequest,
    catalog: &catalog::Catalog,
    needed: &[usize],
) -> Option<(Library, Plan)> {
    let cache = parsed::recall(project, key, files.read.len())?;
    let runbooks = needed
        .iter()
        .map(|&i| cache.runbook(i).filter(|r| catalog.names(i, &r.name.value)))
        .collect::<Option<Vec<_>>>()?;
    tracing::debug!(
        "the plan can involve {} of the library's {} files: only those are parsed, from what was remembered of them (not their YAML)",
        needed.len(),
        files.read.len()
    );
    let library = checked_values(runbooks);
    let plan = build(project, &library, request).ok()?;
    Some((library, plan))
}
