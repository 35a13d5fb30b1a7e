//! What each file of a library found valid names and refers to, remembered beside its
//! verdict, so that `plan` parses only the files its plan can involve instead of all of them
//! (parsing is three quarters of a `plan` of the shipped library).
//!
//! The catalog is kept under the verdict's key (`verdict::key`: the executable, the project
//! and every file's path and bytes), so it describes exactly the bytes the command read. It
//! holds, per file: the runbook's name, the secret id and env names it owns, the keys it
//! refers to (its id, `implies`, `conflicts`), and the targets of its `rotate` steps. A
//! catalog that is not ours (other owner, writable by others), garbled, of another key or of
//! other paths is not used: the command reads the whole library as before.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::verdict::{self, Key};
use crate::load::Files;
use crate::project::{Library, Project};

/// The file of the catalog, in the state directory.
const FILE: &str = "catalog.json";
/// A catalog larger than this is not written, nor read: thousands of runbook files.
const MAX_BYTES: u64 = 4 * 1024 * 1024;

/// One library's files, in the order the command reads them.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Catalog {
    key: String,
    files: Vec<Entry>,
}

/// What one file is known by and refers to. Keys are lowercased: the planner matches secret
/// ids and env names case-insensitively.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    path: String,
    name: String,
    /// Its secret's id and env names.
    owns: Vec<String>,
    /// Its secret's id, `implies` and `conflicts`: what the planner looks up from it.
    refers: Vec<String>,
    /// The fixed targets of its `rotate` steps, as written (possibly templates).
    rotates: Vec<String>,
}

impl Catalog {
    /// The catalog of a parsed library, if every file read loaded (as in a valid library).
    fn of(key: &Key, files: &[PathBuf], library: &Library) -> Option<Self> {
        if library.runbooks.len() != files.len() {
            return None;
        }
        let mut entries = Vec::with_capacity(files.len());
        for (path, loaded) in files.iter().zip(&library.runbooks) {
            if loaded.source.path != *path {
                return None;
            }
            let runbook = &loaded.value;
            let lower = |s: &str| s.to_ascii_lowercase();
            let (owns, refers) = runbook.secret.as_ref().map_or_else(Default::default, |s| {
                let owns = std::iter::once(&s.id)
                    .chain(&s.env)
                    .map(|k| lower(&k.value))
                    .collect();
                let refers = std::iter::once(&s.id)
                    .chain(&s.implies)
                    .chain(&s.conflicts)
                    .map(|k| lower(&k.value))
                    .collect();
                (owns, refers)
            });
            entries.push(Entry {
                path: path.to_str()?.to_string(),
                name: runbook.name.value.clone(),
                owns,
                refers,
                rotates: runbook
                    .steps
                    .iter()
                    .filter_map(|s| s.rotate.as_ref()?.secret.as_ref())
                    .map(|s| s.value.clone())
                    .collect(),
            });
        }
        Some(Self {
            key: key.as_str().to_string(),
            files: entries,
        })
    }

    /// The indices of the files a plan of `runbook` (with `--secret`) can involve, in their
    /// order, or `None` when the catalog cannot tell (no runbook of that name, a `rotate`
    /// target that is a template). It is every file the planner could look up: the runbooks
    /// of that name, and every owner of every key looked up from them, transitively (the
    /// `--secret`, `rotate` targets, and each involved secret's id, `implies` and
    /// `conflicts`). Every owner of a key is taken, not only the first, so the planner's
    /// first match among the files taken is its first match in the whole library.
    pub(crate) fn needed(&self, runbook: &str, secret: Option<&str>) -> Option<Vec<usize>> {
        let mut taken: Vec<bool> = self.files.iter().map(|f| f.name == runbook).collect();
        if !taken.contains(&true) {
            return None;
        }
        let mut keys: BTreeSet<String> = secret.map(str::to_ascii_lowercase).into_iter().collect();
        for entry in self
            .files
            .iter()
            .zip(&taken)
            .filter(|(_, t)| **t)
            .map(|(e, _)| e)
        {
            for target in &entry.rotates {
                // Rendered at plan time from vars and inputs: any secret could be meant.
                if crate::template::is_template(target) {
                    return None;
                }
                keys.insert(target.to_ascii_lowercase());
            }
        }
        loop {
            for (entry, _) in self.files.iter().zip(&taken).filter(|(_, t)| **t) {
                keys.extend(entry.refers.iter().cloned());
            }
            let mut more = false;
            for (entry, take) in self.files.iter().zip(taken.iter_mut()) {
                if !*take && entry.owns.iter().any(|k| keys.contains(k)) {
                    *take = true;
                    more = true;
                }
            }
            if !more {
                break;
            }
        }
        Some((0..taken.len()).filter(|i| taken[*i]).collect())
    }

    /// Whether the file at `index` holds the runbook named `name`, as the catalog says.
    pub(crate) fn names(&self, index: usize, name: &str) -> bool {
        self.files.get(index).is_some_and(|e| e.name == name)
    }
}

fn path(project: &Project) -> PathBuf {
    project.state_dir.join(FILE)
}

/// The catalog of the library read as `files` under `key`, if one was remembered for exactly
/// those files.
pub(crate) fn recall(project: &Project, key: &Key, files: &Files) -> Option<Catalog> {
    let paths: Vec<&Path> = files.read.iter().map(|(path, _)| path.as_path()).collect();
    recall_of(project, key, &paths)
}

fn recall_of(project: &Project, key: &Key, paths: &[&Path]) -> Option<Catalog> {
    let text = verdict::read_private(&path(project), MAX_BYTES)?;
    let catalog: Catalog = serde_json::from_str(&text).ok()?;
    let same_files = catalog.files.len() == paths.len()
        && catalog
            .files
            .iter()
            .zip(paths)
            .all(|(entry, path)| Path::new(&entry.path) == *path);
    (catalog.key == key.as_str() && same_files).then_some(catalog)
}

/// Remembers the catalog of a library found valid under `key`, unless it is the one already
/// there. Only into an existing state directory (the verdict made it, or a run did); a
/// failure to write is not an error: the next `plan` reads the whole library.
pub(crate) fn remember(project: &Project, key: &Key, files: &[PathBuf], library: &Library) {
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    if !project.state_dir.is_dir() || recall_of(project, key, &paths).is_some() {
        return;
    }
    let Some(catalog) = Catalog::of(key, files, library) else {
        return;
    };
    let Ok(text) = serde_json::to_vec(&catalog) else {
        return;
    };
    if text.len() as u64 <= MAX_BYTES {
        let _ = crate::atomic::write_atomic(&path(project), &text, Some(0o600));
    }
}
