//! `runbook validate [PATH...]`: every problem at once, exit 2 if there is any.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{Global, Outcome, project_options};
use crate::check::{catalog, check_library, verdict};
use crate::exit;
use crate::load::Files;
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
    let files = Files::read(&dedupe(&all));
    let named: HashSet<PathBuf> = files_of(paths);
    let key = verdict::key(&project, &files);
    let count_of = |paths: &mut dyn Iterator<Item = &Path>| {
        if explicit {
            paths.filter(|p| named.contains(&canonical(p))).count()
        } else {
            paths.count()
        }
    };
    // The same bytes, the same project and the same executable found valid before: every
    // file loads, so each is a valid runbook.
    if key
        .as_ref()
        .is_some_and(|k| verdict::known_valid(&project, k))
    {
        let count = count_of(&mut files.read.iter().map(|(p, _)| p.as_path()));
        return Ok(valid(global, count));
    }
    let total = files.read.len();
    let read: Vec<PathBuf> = files.read.iter().map(|(p, _)| p.clone()).collect();
    let mut library = Library::parse(files);
    let mut problems = std::mem::take(&mut library.problems);
    problems.extend(check_library(&project, &library));
    if let Some(key) = key.filter(|_| problems.is_empty() && library.runbooks.len() == total) {
        verdict::remember(&project, &key, true);
        // What `plan` reads of the library (see `check::catalog`): the runbooks directory.
        if !explicit {
            catalog::remember(&project, &key, &read, &library);
        }
    }
    if explicit {
        problems.retain(|p| p.file().is_none_or(|f| named.contains(&canonical(f))));
    }
    let count = count_of(&mut library.runbooks.iter().map(|r| r.source.path.as_path()));
    if problems.is_empty() {
        Ok(valid(global, count))
    } else {
        diagnostics.print(&problems);
        Ok(exit::INVALID)
    }
}

fn valid(global: &Global, count: usize) -> u8 {
    if !global.quiet {
        println!("{count} runbook{} valid", if count == 1 { "" } else { "s" });
    }
    exit::DONE
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
