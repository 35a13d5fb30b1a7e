//! `runbook validate [PATH...]`: every problem at once, exit 2 if there is any.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{Global, Outcome, project_options};
use crate::check::check_library;
use crate::exit;
use crate::project::{Library, Project};
use crate::report::diagnostics::Diagnostics;

pub(super) fn run(global: &Global, paths: &[PathBuf], diagnostics: &Diagnostics) -> Outcome {
    let project = Project::open(&project_options(global))?;
    // Named files are checked against the whole library, so that `implies` and `rotate`
    // resolve; only problems in the named files are reported.
    let mut all = paths.to_vec();
    let explicit = !paths.is_empty();
    if project.runbooks_dir.is_dir() || !explicit {
        all.push(project.runbooks_dir.clone());
    }
    let mut library = Library::load(&dedupe(&all));
    let named: HashSet<PathBuf> = files_of(paths);
    let mut problems = std::mem::take(&mut library.problems);
    problems.extend(check_library(&project, &library));
    if explicit {
        problems.retain(|p| p.file().is_none_or(|f| named.contains(&canonical(f))));
    }
    let count = if explicit {
        library
            .runbooks
            .iter()
            .filter(|r| named.contains(&canonical(&r.source.path)))
            .count()
    } else {
        library.runbooks.len()
    };
    if problems.is_empty() {
        if !global.quiet {
            println!("{count} runbook{} valid", if count == 1 { "" } else { "s" });
        }
        Ok(exit::DONE)
    } else {
        diagnostics.print(&problems);
        Ok(exit::INVALID)
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The files a list of paths names, directories expanded.
fn files_of(paths: &[PathBuf]) -> HashSet<PathBuf> {
    let mut files = HashSet::new();
    for path in paths {
        if path.is_dir() {
            if let Ok(list) = crate::load::yaml_files(path) {
                files.extend(list.iter().map(|p| canonical(p)));
            }
        } else {
            files.insert(canonical(path));
        }
    }
    files
}

/// Loads each file once even when a named file also sits in the runbooks directory.
fn dedupe(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            if let Ok(list) = crate::load::yaml_files(path) {
                for file in list {
                    if seen.insert(canonical(&file)) {
                        out.push(file);
                    }
                }
            }
        } else if seen.insert(canonical(path)) {
            out.push(path.clone());
        }
    }
    out
}
