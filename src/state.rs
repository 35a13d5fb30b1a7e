//! The state directory (`.runbook/`, mode 0700): one folder per run (journal, pending values,
//! backups), the audit log, the last rotation of each secret, the active-run marker, the lock.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Creates a directory with mode 0700 (the state holds pending secrets and backups).
pub fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))
}

fn named(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[derive(Debug, Clone)]
pub struct StateDir {
    pub root: PathBuf,
}

impl StateDir {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.root.join("runs").join(run_id)
    }

    pub fn journal_path(&self, run_id: &str) -> PathBuf {
        self.run_dir(run_id).join("journal.jsonl")
    }

    pub fn pending_dir(&self, run_id: &str) -> PathBuf {
        self.run_dir(run_id).join("pending")
    }

    pub fn backup_dir(&self, run_id: &str) -> PathBuf {
        self.run_dir(run_id).join("backup")
    }

    pub fn audit_path(&self) -> PathBuf {
        self.root.join("audit.jsonl")
    }

    pub fn rotations_path(&self) -> PathBuf {
        self.root.join("rotations.json")
    }

    fn active_path(&self) -> PathBuf {
        self.root.join("active")
    }

    /// Creates the run's folders, each 0700.
    pub fn create_run(&self, run_id: &str) -> std::io::Result<()> {
        ensure_dir(&self.root)?;
        ensure_dir(&self.root.join("runs"))?;
        ensure_dir(&self.run_dir(run_id))?;
        ensure_dir(&self.pending_dir(run_id))?;
        ensure_dir(&self.backup_dir(run_id))
    }

    /// The run that started and has not ended, if any.
    pub fn active_run(&self) -> Option<String> {
        std::fs::read_to_string(self.active_path())
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// Marks a run unfinished until `clear_active`; durable, because after a crash this is
    /// what blocks a second run from starting on top of the first.
    pub fn set_active(&self, run_id: &str) -> std::io::Result<()> {
        crate::atomic::write_atomic(
            &self.active_path(),
            format!("{run_id}\n").as_bytes(),
            Some(0o600),
        )
    }

    pub fn clear_active(&self) -> std::io::Result<()> {
        match std::fs::remove_file(self.active_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(named(&self.active_path(), e))
            }
            _ => Ok(()),
        }
    }

    /// Removes what only a live run needs: pending values and backups.
    pub fn remove_pending(&self, run_id: &str) -> std::io::Result<()> {
        for dir in [self.pending_dir(run_id), self.backup_dir(run_id)] {
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(named(&dir, e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// Writes a 0600 file under the run and makes it durable before returning.
    pub fn write_private(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        crate::atomic::write_atomic(path, bytes, Some(0o600))
    }
}

/// The run lock: an advisory lock on a separate file. A process that dies releases it with
/// its file descriptors, so a killed run never blocks the next one; the descriptor is
/// close-on-exec, so restarted services never inherit it.
pub struct RunLock {
    _file: File,
}

pub enum LockError {
    /// Another process holds the lock; what it wrote about itself.
    Held(String),
    Io(std::io::Error),
}

impl RunLock {
    pub fn acquire(state: &StateDir, run_id: &str) -> Result<RunLock, LockError> {
        ensure_dir(&state.root).map_err(LockError::Io)?;
        let path = state.root.join("lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| LockError::Io(named(&path, e)))?;
        if let Err(err) = file.try_lock() {
            return match err {
                std::fs::TryLockError::WouldBlock => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    Err(LockError::Held(holder.trim().to_string()))
                }
                std::fs::TryLockError::Error(e) => Err(LockError::Io(named(&path, e))),
            };
        }
        let holder = format!(
            "pid {}, run {run_id}, started {}",
            std::process::id(),
            jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .unwrap_or_else(|_| jiff::Timestamp::now())
        );
        let _ = file.set_len(0);
        let _ = file.rewind();
        // Only a second invocation reads this, and only while the lock is held, so it never
        // needs to survive a crash: no fsync (one fewer per run).
        let _ = file.write_all(holder.as_bytes());
        Ok(RunLock { _file: file })
    }
}
