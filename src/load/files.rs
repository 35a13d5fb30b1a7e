//! The runbook files a command sees, read once: the same bytes are parsed and, when the
//! checker's verdict is remembered, are what it is remembered by (a file changing between a
//! second read and the parse could otherwise be remembered as valid in its other version).

use std::path::PathBuf;

use super::{read_text, yaml_files};
use crate::diagnostic::Problem;

/// A file with its text, or why it could not be read.
pub type FileText = (PathBuf, Result<String, Problem>);

/// Each file with its text or why it could not be read, in a deterministic order, and the
/// directories that could not be listed.
#[derive(Debug, Default)]
pub struct Files {
    pub read: Vec<FileText>,
    pub problems: Vec<Problem>,
}

impl Files {
    /// Reads files and the YAML files of directories.
    pub fn read(paths: &[PathBuf]) -> Self {
        let mut files = Files::default();
        let mut list = Vec::new();
        for path in paths {
            if path.is_dir() {
                match yaml_files(path) {
                    Ok(found) => list.extend(found),
                    Err(problem) => files.problems.push(problem),
                }
            } else {
                list.push(path.clone());
            }
        }
        files.read = list
            .into_iter()
            .map(|path| {
                let text = read_text(&path);
                (path, text)
            })
            .collect();
        files
    }

    /// Every path with its text, if every file and directory could be read.
    pub fn texts(&self) -> Option<Vec<(&std::path::Path, &str)>> {
        if !self.problems.is_empty() {
            return None;
        }
        self.read
            .iter()
            .map(|(path, text)| text.as_deref().ok().map(|t| (path.as_path(), t)))
            .collect()
    }
}
