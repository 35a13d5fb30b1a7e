//! The env files preflight reads, each read and parsed once, and the current values of the
//! library's secrets read from them (and registered with the redactor).

use std::collections::{BTreeMap, HashMap};

use crate::checked::{Library, RunbookIx};
use crate::envfile::EnvFile;
use crate::project::Project;
use crate::redact::Redactor;
use crate::template::render;

/// The env files preflight reads, each read and parsed once: most runbooks share one.
pub(super) struct EnvFiles<'a> {
    project: &'a Project,
    library: &'a Library,
    cache: std::cell::RefCell<HashMap<std::path::PathBuf, std::rc::Rc<Result<EnvFile, String>>>>,
}

impl<'a> EnvFiles<'a> {
    pub(super) fn new(project: &'a Project, library: &'a Library) -> Self {
        Self {
            project,
            library,
            cache: std::cell::RefCell::default(),
        }
    }

    /// The file an env step of runbook `rb` edits: its own `file`, else the secret's, else
    /// `vars.env_file`.
    pub(super) fn file_of(
        &self,
        rb: RunbookIx,
        file: Option<&String>,
    ) -> Option<std::path::PathBuf> {
        let runbook = self.library.runbook(rb);
        let ctx = minijinja::context! { vars => self.project.vars_for(&runbook.vars) };
        render(crate::template::shared(), runbook.env_file_text(file), &ctx)
            .ok()
            .map(|p| self.project.resolve(&p))
    }

    /// The files that parsed, given up for the steps (see `envfile::Parsed`).
    pub(super) fn into_parsed(self) -> Vec<EnvFile> {
        self.cache
            .into_inner()
            .into_values()
            .filter_map(|parsed| match std::rc::Rc::try_unwrap(parsed) {
                Ok(parsed) => parsed.ok(),
                Err(shared) => shared.as_ref().as_ref().ok().cloned(),
            })
            .collect()
    }

    pub(super) fn read(&self, path: &std::path::Path) -> std::rc::Rc<Result<EnvFile, String>> {
        if let Some(parsed) = self.cache.borrow().get(path) {
            return std::rc::Rc::clone(parsed);
        }
        let parsed = std::fs::read(path)
            .map_err(|e| format!("cannot read env file `{}`: {e}", path.display()))
            .and_then(|bytes| {
                EnvFile::parse_owned(bytes).map_err(|e| format!("{}: {e}", path.display()))
            });
        let parsed = std::rc::Rc::new(parsed);
        self.cache
            .borrow_mut()
            .insert(path.to_path_buf(), std::rc::Rc::clone(&parsed));
        parsed
    }
}

/// Reads the current value of every variable the library's secrets own, and registers the
/// secret ones with the redactor: every value the library's secrets hold now is masked in
/// all output, not only those this run rotates, since a child may print any of them.
pub(super) fn read_currents(
    library: &Library,
    files: &EnvFiles<'_>,
    redactor: &Redactor,
) -> HashMap<RunbookIx, BTreeMap<String, String>> {
    let mut currents = HashMap::new();
    let mut masked: Vec<String> = Vec::new();
    for (rb, runbook) in library.indexed() {
        // A secret that lives on inventory hosts has no value here: `secret.current` is
        // undefined for it, rather than read from a file of this machine.
        let (Some(secret), None) = (&runbook.secret, &runbook.on) else {
            continue;
        };
        let Ok(path) = runbook.secret_file(files.project) else {
            continue;
        };
        let parsed = files.read(&path);
        let Ok(file) = parsed.as_ref() else { continue };
        let mut values = BTreeMap::new();
        for name in &secret.env {
            if let Some(value) = file.get(&name.value) {
                if !secret.public.contains(&name.value) {
                    masked.push(value.clone());
                }
                values.insert(name.value.clone(), value);
            }
        }
        currents.insert(rb, values);
    }
    // One rebuild of the redactor's matcher for all of them.
    redactor.add_all(masked.iter().map(String::as_str));
    currents
}
