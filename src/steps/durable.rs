//! The run's durable record: the journal plus the 0600 files beside it — step outputs
//! (generated values among them) and backups of edited files — written before anything can
//! depend on them, so a crash at any point loses nothing.

use crate::failure::ErrorKind;
use std::path::{Path, PathBuf};

use minijinja::Value;

use super::context::StepError;
use crate::host::Host;
use crate::journal::{CompensationRecord, Journal, Record};
use crate::plan::NodeIx;
use crate::state::StateDir;
use crate::steps::Compensation;

/// The pending file with the inputs and current values a run started from.
pub(crate) const START_FILE: &str = "start.json";

#[derive(Clone)]
pub(crate) struct Durable {
    pub journal: Journal,
    pub state: StateDir,
    pub run_id: String,
}

fn io(e: impl std::fmt::Display) -> StepError {
    StepError::new(
        ErrorKind::Journal,
        format!("cannot record the run durably: {e}"),
    )
}

impl Durable {
    pub(crate) fn outputs_path(&self, node: NodeIx) -> PathBuf {
        self.state
            .pending_dir(&self.run_id)
            .join(format!("out-{}.json", node.get()))
    }

    pub(crate) fn backup_path(&self, name: &str) -> PathBuf {
        self.state.backup_dir(&self.run_id).join(name)
    }

    /// Records that a step is about to act. Durable before a side effect that `resume` must
    /// know about; for a step that has none (or may safely run twice), written is enough.
    pub(crate) async fn intent(
        &self,
        node: NodeIx,
        name: &str,
        attempt: u32,
        durable: bool,
    ) -> Result<(), StepError> {
        let record = Record::Intent {
            node: node.get(),
            name: name.to_string(),
            attempt,
        };
        if durable {
            self.journal.durable(&record).await
        } else {
            self.journal.written(&record).await
        }
        .map_err(io)
    }

    /// Keeps a file's previous bytes (or the fact it did not exist) before it is replaced,
    /// through the host the file is on.
    pub(crate) async fn backup(
        &self,
        host: &dyn Host,
        node: NodeIx,
        path: &Path,
        previous: Option<&[u8]>,
        mode: Option<u32>,
    ) -> Result<Option<String>, StepError> {
        let name = match previous {
            Some(bytes) => {
                let name = format!(
                    "{}-{}.bak",
                    node.get(),
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                );
                host.keep_backup(path, bytes, &self.backup_path(&name))
                    .await
                    .map_err(io)?;
                Some(name)
            }
            None => None,
        };
        self.journal
            .durable(&Record::Backup {
                node: node.get(),
                path: path.to_path_buf(),
                backup: name.clone(),
                mode,
            })
            .await
            .map_err(io)?;
        Ok(name)
    }

    /// Makes a backup private once its file has been replaced: a linked backup kept the
    /// file's own mode, which could not change while the file was still in use. The folder
    /// is 0700 either way; this only makes the backup itself 0600 as documented.
    pub(crate) fn seal_backup(&self, name: &str) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(
            self.backup_path(name),
            std::fs::Permissions::from_mode(0o600),
        );
    }

    /// Records a finished step: its outputs to a 0600 file, then the result.
    pub(crate) async fn done(
        &self,
        node: NodeIx,
        name: &str,
        skipped: bool,
        outputs: Option<&Value>,
        keep_outputs: bool,
        compensation: Option<&Compensation>,
    ) -> Result<(), StepError> {
        let has_outputs =
            keep_outputs && outputs.is_some_and(|v| !v.is_none() && !v.is_undefined());
        if let Some(outputs) = outputs.filter(|_| has_outputs) {
            let json = serde_json::to_vec(outputs).map_err(io)?;
            self.state
                .write_private(&self.outputs_path(node), &json)
                .map_err(io)?;
        }
        let compensation = compensation.map(|c| match c {
            Compensation::Restore {
                path, backup, mode, ..
            } => CompensationRecord::Restore {
                path: path.clone(),
                backup: backup.clone(),
                mode: *mode,
            },
            Compensation::RestartAgain { services } => CompensationRecord::RestartAgain {
                services: services.clone(),
            },
            Compensation::Rollback => CompensationRecord::Rollback,
        });
        // Written, not fsynced: the next step's durable intent (or the run's end) carries it
        // to disk, and a lost result only leaves the step in doubt for `resume` to check.
        self.journal
            .written(&Record::Done {
                node: node.get(),
                name: name.to_string(),
                skipped,
                outputs: has_outputs,
                compensation,
            })
            .await
            .map_err(io)
    }

    /// Writes a JSON value to a 0600 pending file (inputs, current values).
    pub(crate) fn keep(&self, file: &str, value: &impl serde::Serialize) -> std::io::Result<()> {
        let json = serde_json::to_vec(value).map_err(std::io::Error::other)?;
        self.state
            .write_private(&self.state.pending_dir(&self.run_id).join(file), &json)
    }

    /// Reads back what `keep` wrote.
    pub(crate) fn load<T: serde::de::DeserializeOwned>(&self, file: &str) -> std::io::Result<T> {
        let bytes = std::fs::read(self.state.pending_dir(&self.run_id).join(file))?;
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)
    }
}
