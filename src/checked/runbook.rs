//! A checked runbook: the header as written, and its steps in their checked form.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_saphyr::Spanned;

use super::{Step, StepIx};
use crate::model::{InputSpec, Mode, SecretSpec};
use crate::project::Project;
use crate::template::TemplateError;

#[derive(Debug)]
pub(crate) struct Runbook {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub secret: Option<SecretSpec>,
    pub mode: Mode,
    pub inputs: BTreeMap<String, InputSpec>,
    pub vars: BTreeMap<String, String>,
    /// Where the steps run: an inventory pattern; a step's own `on` wins.
    pub on: Option<Spanned<String>>,
    /// Hosts in batches (`serial`) and how many may fail (`max_fail`), as written.
    pub serial: Option<Spanned<crate::model::HostShare>>,
    pub max_fail: Option<Spanned<crate::model::HostShare>>,
    pub steps: Vec<Step>,
}

impl Runbook {
    pub(crate) fn step(&self, si: StepIx) -> &Step {
        &self.steps[si.get()]
    }

    /// Every step with its index, in the order written.
    pub(crate) fn indexed_steps(&self) -> impl Iterator<Item = (StepIx, &Step)> {
        self.steps
            .iter()
            .enumerate()
            .map(|(i, s)| (StepIx::new(i), s))
    }

    /// The step with id `id`.
    pub(crate) fn step_named(&self, id: &str) -> Option<StepIx> {
        self.indexed_steps()
            .find(|(_, s)| s.id.value == id)
            .map(|(si, _)| si)
    }

    /// The file a runbook's secret lives in, as written: `secret.file`, else the default.
    pub(crate) fn secret_file_text(&self) -> &str {
        self.secret
            .as_ref()
            .and_then(|s| s.file.as_deref())
            .unwrap_or("{{ vars.env_file }}")
    }

    /// The file an env step edits, as written: its own `file`, else the secret's.
    pub(crate) fn env_file_text<'a>(&'a self, file: Option<&'a String>) -> &'a str {
        file.map_or_else(|| self.secret_file_text(), String::as_str)
    }

    /// Where the secret's current values live on this machine: its file rendered with vars
    /// only (it is known before the run), against the project root. An error is the
    /// template's, which the checker has already reported; readers of current values go on
    /// without them.
    pub(crate) fn secret_file(&self, project: &Project) -> Result<PathBuf, TemplateError> {
        self.secret_file_on(project, None)
            .map(|path| project.resolve(&path))
    }

    /// The secret's file as its template renders on `host` (whose vars may place it
    /// elsewhere), or on this machine; not yet resolved to a path there.
    pub(crate) fn secret_file_on(
        &self,
        project: &Project,
        host: Option<&str>,
    ) -> Result<String, TemplateError> {
        let ctx = minijinja::context! { vars => project.vars_on(&self.vars, host) };
        crate::template::render(crate::template::shared(), self.secret_file_text(), &ctx)
    }
}
