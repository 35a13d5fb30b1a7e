//! The run's durable record: the journal plus the 0600 files beside it — step outputs
//! (generated values among them) and backups of edited files — written before anything can
//! depend on them, so a crash at any point loses nothing.

use crate::failure::ErrorKind;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
    /// The backups this run keeps as links beside the files they hold (see `backup`), for
    /// removal when the run ends.
    beside: Arc<Mutex<BTreeSet<PathBuf>>>,
}

/// A journal (or pending file) that could not be written: the step cannot go on safely.
pub(crate) fn io(e: impl std::fmt::Display) -> StepError {
    StepError::new(
        ErrorKind::Journal,
        format!("cannot record the run durably: {e}"),
    )
}

impl Durable {
    pub(crate) fn new(journal: Journal, state: StateDir, run_id: String) -> Self {
        Self {
            journal,
            state,
            run_id,
            beside: Arc::default(),
        }
    }

    pub(crate) fn outputs_path(&self, node: NodeIx) -> PathBuf {
        self.state
            .pending_dir(&self.run_id)
            .join(format!("out-{}.json", node.get()))
    }

    /// Where a journaled backup is: a name under the run's `backup/` folder, or the absolute
    /// path of a link kept beside the file (which `join` returns as it is).
    pub(crate) fn backup_path(&self, name: &str) -> PathBuf {
        self.state.backup_dir(&self.run_id).join(name)
    }

    /// Notes backups beside files that an earlier process of this run made (`resume`,
    /// `abort`), so the end of the run removes them too.
    pub(crate) fn adopt_backups(&self, names: impl IntoIterator<Item = String>) {
        let mut beside = self.beside.lock().expect("never poisoned; this is a bug");
        beside.extend(
            names
                .into_iter()
                .map(PathBuf::from)
                .filter(|path| path.is_absolute()),
        );
    }

    /// Removes the backups kept beside files. Only once the run's end is durable: until then
    /// a power cut could leave a run that `abort` must still be able to undo.
    pub(crate) fn remove_backups_beside(&self) -> std::io::Result<()> {
        let beside = self.beside.lock().expect("never poisoned; this is a bug");
        for path in beside.iter() {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("{}: {e}", path.display()),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
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

    /// Marks an armed step started (see `exec::arming`): its `armed` record, line `line`, is
    /// its intent and must be on disk first; it was fsynced while the steps before it ran, so
    /// this waits only if that fsync has not completed. The mark itself is only written: a
    /// killed process leaves it in the file, which is all recovery needs in the same boot.
    pub(crate) async fn start_armed(&self, node: NodeIx, line: u64) -> Result<(), StepError> {
        self.journal.synced(line).await.map_err(io)?;
        self.journal
            .written(&Record::Started { node: node.get() })
            .await
            .map_err(io)
    }

    /// Keeps a file's previous bytes (or the fact it did not exist) before it is replaced,
    /// through the host the file is on, and journals where they are, durably: this one fsync
    /// of the journal also carries the step's intent and everything before it.
    ///
    /// Where the host can, the bytes are kept as a hard link to the file, beside it (see
    /// `Host::link_backup`): the edit renames a new file over the old one in that same
    /// directory, and the edit's own fsync of the directory makes the link durable with the
    /// rename — metadata of one directory reaches the disk in the order it was changed on a
    /// journaling file system, so no power cut leaves the new file without the link. The old
    /// bytes themselves are as durable as the file was before the run (a file that another
    /// program wrote without fsync moments before could lose those bytes to a power cut, run or
    /// no run; a rollback after one restores what the file would have held without the run).
    /// Elsewhere the bytes are copied, flushed, into the run's `backup/` folder.
    pub(crate) async fn backup(
        &self,
        host: &dyn Host,
        node: NodeIx,
        path: &Path,
        previous: Option<&[u8]>,
        mode: Option<u32>,
    ) -> Result<Option<String>, StepError> {
        let (name, line) = self
            .backup_written(host, node, path, previous, mode)
            .await?;
        self.journal
            .sync_through(line)
            .map_err(io)?
            .await
            .map_err(io)?;
        Ok(name)
    }

    /// `backup` without waiting for the disk: the old bytes kept and their record written;
    /// the record's line, which must be durable before the file is replaced (see
    /// `Host::write_atomic_after`, which lets the edit's own fsync overlap that one).
    pub(crate) async fn backup_written(
        &self,
        host: &dyn Host,
        node: NodeIx,
        path: &Path,
        previous: Option<&[u8]>,
        mode: Option<u32>,
    ) -> Result<(Option<String>, u64), StepError> {
        let name = match previous {
            Some(bytes) => Some(self.keep_previous(host, node, path, bytes).await?),
            None => None,
        };
        let line = self
            .journal
            .append_numbered(&Record::Backup {
                node: node.get(),
                path: path.to_path_buf(),
                backup: name.clone(),
                mode,
            })
            .map_err(io)?;
        Ok((name, line))
    }

    /// Keeps `bytes`, what `path` holds now: linked beside it, else copied under `backup/`.
    /// The name the journal gives it (see `backup_path`).
    async fn keep_previous(
        &self,
        host: &dyn Host,
        node: NodeIx,
        path: &Path,
        bytes: &[u8],
    ) -> Result<String, StepError> {
        let tag = format!("{}-{}", self.run_id, node.get());
        if let Some(link) = host.link_backup(path, bytes, &tag).await.map_err(io)? {
            if let Some(name) = link.to_str() {
                self.beside
                    .lock()
                    .expect("never poisoned; this is a bug")
                    .insert(link.clone());
                return Ok(name.to_string());
            }
            // The journal holds paths as text: a name that is not UTF-8 is copied instead.
            let _ = std::fs::remove_file(&link);
        }
        let name = format!(
            "{}-{}.bak",
            node.get(),
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        // The copy lives in this machine's state whatever the host; `backup/` is made by the
        // run's first copy (`StateDir::create_run`).
        self.state.backup_dir_ready(&self.run_id).map_err(io)?;
        host.keep_backup(path, bytes, &self.backup_path(&name))
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

    /// Reads back what `keep` wrote; `None` when it was never written.
    pub(crate) fn load<T: serde::de::DeserializeOwned>(
        &self,
        file: &str,
    ) -> std::io::Result<Option<T>> {
        let bytes = match std::fs::read(self.state.pending_dir(&self.run_id).join(file)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(std::io::Error::other)
    }
}
