//! The runbooks of a library found valid, remembered as parsed, so that the next `plan` of
//! the same bytes reads them back instead of parsing their YAML again (serde-saphyr spends
//! about a thousand instructions a byte; reading them back as JSON, a small part of that).
//!
//! The file, `parsed` in the state directory (0600), is kept under the verdict's key
//! (`verdict::key`: this executable, the project, and every runbook file's path and bytes):
//! its first line is the key, then one line per file of the library in the order the
//! command reads them, empty for a file not remembered yet, else that file's runbook as
//! compact JSON (which never holds a raw line break). A change to any byte of any file, to
//! the project or to the executable is another key, so what is read back is always what
//! those bytes parse to; it is runbook text only, never a secret value (runbooks name their
//! secrets, they do not hold them). Spans are not kept: they only point diagnostics at a
//! line, and a plan built from a library known valid has none to report; a plan that fails
//! is built again from the files themselves. A file that is not ours (other owner, writable
//! by others), larger than the limit, garbled or of another key is ignored, and rewritten by
//! the next `plan` that parses.

use std::path::PathBuf;

use super::verdict::{self, Key};
use crate::model::Runbook;
use crate::project::Project;

/// The file, in the state directory.
const FILE: &str = "parsed";
/// A file larger than this is neither written nor read (runbook files are at most 1 MiB).
const MAX_BYTES: u64 = 32 * 1024 * 1024;

/// The remembered runbooks of one library: one line of JSON per file, or an empty line.
pub(crate) struct Parsed {
    lines: Vec<String>,
}

impl Parsed {
    /// The runbook of the file at `index`, if it was remembered and reads back.
    pub(crate) fn runbook(&self, index: usize) -> Option<Runbook> {
        let line = self.lines.get(index).filter(|l| !l.is_empty())?;
        serde_json::from_str(line).ok()
    }
}

fn path(project: &Project) -> PathBuf {
    project.state_dir.join(FILE)
}

/// The remembered runbooks of the library of `count` files read under `key`, if any.
pub(crate) fn recall(project: &Project, key: &Key, count: usize) -> Option<Parsed> {
    let text = verdict::read_private(&path(project), MAX_BYTES)?;
    let mut lines = text.split('\n');
    if lines.next() != Some(key.as_str()) {
        return None;
    }
    let mut lines: Vec<String> = lines.map(str::to_string).collect();
    // Exactly one line per file, each ended by a line break: a file cut short is not used.
    if lines.len() != count + 1 || !lines[count].is_empty() {
        return None;
    }
    lines.truncate(count);
    Some(Parsed { lines })
}

/// Remembers the runbooks just parsed from the files at the given indices of a library of
/// `count` files read under `key`, keeping the others already remembered under that key.
/// Only into an existing state directory; a failure to write is not an error (the next
/// `plan` parses).
pub(crate) fn remember<'a>(
    project: &Project,
    key: &Key,
    count: usize,
    parsed: impl IntoIterator<Item = (usize, &'a Runbook)>,
) {
    if !project.state_dir.is_dir() {
        return;
    }
    let mut lines =
        recall(project, key, count).map_or_else(|| vec![String::new(); count], |p| p.lines);
    let mut changed = false;
    for (index, runbook) in parsed {
        let Some(line) = lines.get_mut(index) else {
            return;
        };
        let Ok(json) = serde_json::to_string(runbook) else {
            return;
        };
        // A line that did not read back (garbled) is replaced, not kept.
        if *line != json {
            *line = json;
            changed = true;
        }
    }
    if !changed {
        return;
    }
    let mut text = String::with_capacity(65 + lines.iter().map(|l| l.len() + 1).sum::<usize>());
    text.push_str(key.as_str());
    text.push('\n');
    for line in &lines {
        text.push_str(line);
        text.push('\n');
    }
    if text.len() as u64 <= MAX_BYTES {
        // Atomic, so a reader sees the old file or the new one, never half of one.
        let _ = crate::atomic::write_atomic(&path(project), text.as_bytes(), Some(0o600));
    }
}
