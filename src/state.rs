//! The state directory (`.runbook/`, mode 0700): one folder per run (journal, pending values,
//! backups), the audit log, the last rotation of each secret, the active-run marker, the lock.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Creates a directory with mode 0700 (the state holds pending secrets and backups), or makes
/// an existing one 0700; one `stat` when it already is.
pub(crate) fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    if std::fs::metadata(dir).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o7777 == 0o700)
    {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))
}

/// Creates one directory with `mode` (`PRIVATE`, or `LIVE`) from its first moment (the process's
/// umask can only narrow the permission bits, and never touches the sticky bit); an existing
/// one is given `mode`.
fn private_dir(dir: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(mode).create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        }
        other => other,
    }
    .map_err(|e| named(dir, e))
}

/// The mode of a live run's folder: 0700 with the sticky bit, which says the run has not
/// ended (or not finished settling) and the sweep must read its journal. A `chmod` back to
/// 0700 says it ended. The bit of the folder's own mode costs nothing at the start (the
/// folder is made with it) and one `chmod` at the end; the marker it replaces, a `backup/`
/// folder made at every start and removed at every end, cost a `mkdir` and a `rmdir`, the
/// two most expensive calls of a one-edit run. On a folder only its owner can enter, the
/// bit's usual meaning (only an entry's owner may remove it) changes nothing.
const LIVE: u32 = 0o1700;
/// Every other folder of the state, and a run's folder once it ended.
const PRIVATE: u32 = 0o700;

/// Whether a run folder's mode says the run is live (see `LIVE`).
pub(crate) fn marks_live(mode: u32) -> bool {
    mode & 0o1000 != 0
}

fn named(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[derive(Debug, Clone)]
pub(crate) struct StateDir {
    pub root: PathBuf,
}

impl StateDir {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub(crate) fn run_dir(&self, run_id: &str) -> PathBuf {
        self.root.join("runs").join(run_id)
    }

    pub(crate) fn journal_path(&self, run_id: &str) -> PathBuf {
        self.run_dir(run_id).join("journal.jsonl")
    }

    pub(crate) fn pending_dir(&self, run_id: &str) -> PathBuf {
        self.run_dir(run_id).join("pending")
    }

    pub(crate) fn backup_dir(&self, run_id: &str) -> PathBuf {
        self.run_dir(run_id).join("backup")
    }

    pub(crate) fn audit_path(&self) -> PathBuf {
        self.root.join("audit.jsonl")
    }

    pub(crate) fn rotations_path(&self) -> PathBuf {
        self.root.join("rotations.json")
    }

    fn active_path(&self) -> PathBuf {
        self.root.join("active")
    }

    /// Creates the run's folder, marked live (`LIVE`), or marks an existing one live again (a
    /// run reopened for its retire phase). `pending/` is made by the first pending value
    /// (`write_private`) and `backup/` by the first backup that is a copy (`backup_dir_ready`),
    /// so a run that needs neither (an env edit, whose backup is a link beside the file) makes
    /// one folder and removes none.
    pub(crate) fn create_run(&self, run_id: &str) -> std::io::Result<()> {
        let run = self.run_dir(run_id);
        match private_dir(&run, LIVE) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                ensure_dir(&self.root)?;
                ensure_dir(&self.root.join("runs"))?;
                private_dir(&run, LIVE)
            }
            other => other,
        }
    }

    /// Makes the run's `backup/` (0700) if it is not there yet, for a backup that is a copy.
    /// The copy's fsync makes the new folder durable with it, as `write_private` explains for
    /// `pending/`.
    pub(crate) fn backup_dir_ready(&self, run_id: &str) -> std::io::Result<()> {
        private_dir(&self.backup_dir(run_id), PRIVATE)
    }

    /// Whether the run's folder is marked live (see `LIVE`).
    pub(crate) fn is_marked_live(&self, run_id: &str) -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(self.run_dir(run_id)).is_ok_and(|m| marks_live(m.mode()))
    }

    /// Clears the live mark of the run's folder: the run ended, or finished settling.
    pub(crate) fn mark_settled(&self, run_id: &str) -> std::io::Result<()> {
        let run = self.run_dir(run_id);
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(PRIVATE))
            .map_err(|e| named(&run, e))
    }

    /// The run that started and has not ended, if any.
    pub(crate) fn active_run(&self) -> Option<String> {
        std::fs::read_to_string(self.active_path())
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// Marks a run unfinished until `clear_active`. Not fsynced: it only has to survive a
    /// killed process, which it does as soon as it is written. After a power cut the journal
    /// is the truth (`exec::sweep::sweep_orphans` marks again a run whose journal shows it
    /// acted and did not end), and a marker that outlived its run's folder is swept the same
    /// way, so syncing it would buy nothing but two fsyncs per run.
    pub(crate) fn set_active(&self, run_id: &str) -> std::io::Result<()> {
        let path = self.active_path();
        std::fs::write(&path, format!("{run_id}\n")).map_err(|e| named(&path, e))
    }

    pub(crate) fn clear_active(&self) -> std::io::Result<()> {
        match std::fs::remove_file(self.active_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(named(&self.active_path(), e))
            }
            _ => Ok(()),
        }
    }

    /// Removes what only a live run needs, pending values and backups, then clears the live
    /// mark, last, since it says the run still has them. A run that made neither folder (the
    /// usual case for an edit: its backup is a link beside the file, which the end removed)
    /// costs two failed `rmdir`s and a `chmod`.
    pub(crate) fn remove_pending(&self, run_id: &str) -> std::io::Result<()> {
        for dir in [self.pending_dir(run_id), self.backup_dir(run_id)] {
            let removed = match std::fs::remove_dir(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => std::fs::remove_dir_all(&dir),
                _ => Ok(()),
            };
            match removed {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(named(&dir, e)),
                _ => {}
            }
        }
        self.mark_settled(run_id)
    }

    /// Writes a 0600 file under the run's `pending/` and makes it durable before returning,
    /// with one fsync: these files are new, and on the journaling file systems Linux runs on
    /// (ext4, XFS, btrfs) an fsync of a new file makes its name durable too — the journal
    /// relies on the same. They are written in place, not by rename: nothing reads one until
    /// a journal record written after its fsync names it (a step's result, the run's begin),
    /// so one torn by a kill is never read, and the next write of it starts from empty.
    pub(crate) fn write_private(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let open = || {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
        };
        // The run's `pending/` is made by its first file (see `create_run`); the fsync of that
        // new file makes the new folder durable with it, as it does the file's name.
        let mut file = match open() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match path.parent() {
                Some(dir) => {
                    private_dir(dir, PRIVATE).and_then(|()| open().map_err(|e| named(path, e)))
                }
                None => Err(named(path, e)),
            },
            other => other.map_err(|e| named(path, e)),
        }?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| named(path, e))
    }
}

/// The run lock: an advisory lock on a separate file. A process that dies releases it with
/// its file descriptors, so a killed run never blocks the next one; the descriptor is
/// close-on-exec, so restarted services never inherit it.
///
/// Who holds it is written into the lock file itself, right after taking it, as one line that
/// ends with a newline, and emptied again before releasing it. Only a second invocation reads
/// it, and only while the lock is held, so it never needs to survive a crash, and the file
/// being written in place costs no new file per run: an earlier version wrote `lock.holder`
/// by rename, which cost creating, renaming and removing a file on every run. A reader that
/// finds the line empty, cut short (no newline yet) or naming a dead process (one killed
/// while holding it) waits the moment the new holder takes to write its line rather than
/// print none, or a dead one.
pub(crate) struct RunLock {
    file: File,
}

pub(crate) enum LockError {
    /// Another process holds the lock; what it wrote about itself.
    Held(String),
    Io(std::io::Error),
}

/// How often a refused invocation looks for the holder's line before saying it has none; the
/// holder writes it right after taking the lock, so this is only ever waited out when that
/// process was killed in between.
const HOLDER_TRIES: usize = 200;
const HOLDER_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

impl RunLock {
    pub(crate) fn acquire(state: &StateDir, run_id: &str) -> Result<RunLock, LockError> {
        ensure_dir(&state.root).map_err(LockError::Io)?;
        let path = state.root.join("lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| LockError::Io(named(&path, e)))?;
        for _ in 0..HOLDER_TRIES {
            match file.try_lock() {
                Ok(()) => return Ok(Self::hold(file, run_id)),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if let Some(line) = live_holder(&file) {
                        return Err(LockError::Held(line));
                    }
                    std::thread::sleep(HOLDER_PAUSE);
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(LockError::Io(named(&path, e)));
                }
            }
        }
        Err(LockError::Held(
            "its process has not said who it is".to_string(),
        ))
    }

    fn hold(file: File, run_id: &str) -> RunLock {
        use std::os::unix::fs::FileExt;
        let line = format!(
            "pid {}, run {run_id}, started {}\n",
            std::process::id(),
            jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .unwrap_or_else(|_| jiff::Timestamp::now())
        );
        // A holder killed before emptying it left its line: emptied first, so a reader never
        // sees the two mixed. Then one write of the whole line.
        let empty = file.metadata().is_ok_and(|m| m.len() == 0);
        if !empty {
            let _ = file.set_len(0);
        }
        let _ = file.write_all_at(line.as_bytes(), 0);
        RunLock { file }
    }
}

impl Drop for RunLock {
    /// Empties the holder's line while the lock is still held (the file closes after this), so
    /// the next holder's line is the only one a refused invocation can read.
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

/// The holder's line, if it is whole and names a process that is alive.
fn live_holder(file: &File) -> Option<String> {
    use std::os::unix::fs::FileExt;
    // The line is far shorter than this, and one read of a regular file returns all of it.
    let mut buf = [0u8; 512];
    let read = file.read_at(&mut buf, 0).ok()?;
    let line = std::str::from_utf8(&buf[..read]).ok()?;
    if !line.ends_with('\n') {
        return None;
    }
    let pid = line
        .strip_prefix("pid ")?
        .split(',')
        .next()?
        .parse::<i32>()
        .ok()?;
    // EPERM: the process exists but belongs to someone else.
    let alive = rustix::process::Pid::from_raw(pid).is_some_and(|pid| {
        matches!(
            rustix::process::test_kill_process(pid),
            Ok(()) | Err(rustix::io::Errno::PERM)
        )
    });
    alive.then(|| line.trim().to_string())
}
