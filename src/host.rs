//! The host seam: every side effect a step has on the machine it acts on — spawning a
//! process, reading, stat-ing, writing a file atomically, keeping its previous bytes, putting
//! them back — goes through [`Host`]. [`Local`] is this machine; a host reached over OpenSSH
//! is the next implementation, so the trait assumes what a remote host brings: every call is
//! async, may be slow, and may fail part-way (a lost connection is an error like any other,
//! and a write that fails leaves the old file in place, as the atomic rename guarantees).
//! Process groups live in `process.rs`, when a `run:` string can skip the shell in `shell.rs`,
//! hosts reached over OpenSSH in `ssh.rs`.

mod beside;
pub(crate) mod conversation;
mod local;
pub(crate) mod process;
mod reaper;
mod shell;
mod ssh;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use tokio::sync::watch;

pub(crate) use beside::is_stale_backup;
pub(crate) use local::Local;
use process::{OutputStream, ProcessOutcome, ProcessSpec};
pub(crate) use ssh::{ControlDir, Ssh, SshTarget};

/// What a host call returns: boxed, so that `dyn Host` works and a run can hold hosts of
/// several kinds.
pub(crate) type HostFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, HostError>> + Send + 'a>>;

/// What `Host::write_atomic_after` waits for before it replaces a file: called once, it starts
/// what must come first and returns the wait for it.
pub(crate) type Ready<'a> = Box<dyn FnOnce() -> HostFuture<'a, ()> + Send + 'a>;

/// Where output of a child goes, chunk by chunk, as it arrives.
pub(crate) type OutputSink<'a> = dyn FnMut(OutputStream, &[u8]) + Send + 'a;

/// What an edit reads of a file before it replaces it. Its bytes are an env file's secrets,
/// so its `Debug` shows their length only.
#[derive(Clone)]
pub(crate) struct Inspected {
    /// The file to replace: symlinks followed (dangling ones too), so a symlinked `.env` is
    /// edited at its target.
    pub path: PathBuf,
    /// Its bytes; `None` when it does not exist.
    pub bytes: Option<Vec<u8>>,
    /// Its permission bits (`0o7777` at most), which a restore puts back; `None` when it
    /// does not exist.
    pub mode: Option<u32>,
}

impl std::fmt::Debug for Inspected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspected")
            .field("path", &self.path)
            .field("bytes", &self.bytes.as_ref().map(Vec::len))
            .field("mode", &self.mode)
            .finish()
    }
}

/// A file read for an edit, and the means to replace it.
pub(crate) struct Opened {
    pub file: Inspected,
    /// The host's own way to write the edit, when it has one (an SSH session still open
    /// after the read); `None`: `write_atomic`.
    session: Option<Box<dyn EditSession>>,
}

impl Opened {
    /// Replaces the file that was read (`file.path`) as [`Host::write_atomic`] does.
    pub(crate) async fn commit(
        self,
        host: &dyn Host,
        bytes: &[u8],
        mode: Option<u32>,
    ) -> Result<(), HostError> {
        match self.session {
            Some(session) => session.commit(bytes, mode).await,
            None => host.write_atomic(&self.file.path, bytes, mode).await,
        }
    }

    /// The host's own way to write this edit, if it has one; otherwise the file is written
    /// with [`Host::write_atomic`] or [`Host::write_atomic_after`].
    pub(crate) fn into_session(self) -> Option<Box<dyn EditSession>> {
        self.session
    }
}

/// The second half of an edit on a host where reading and writing share one call.
/// Dropped without `commit`, the file is left as it was.
pub(crate) trait EditSession: Send + Sync {
    fn commit<'a>(self: Box<Self>, bytes: &'a [u8], mode: Option<u32>) -> HostFuture<'a, ()>;
}

/// A host call that failed. Messages name paths and programs only, never contents.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HostError {
    #[error("cannot {action} `{path}`: {source}")]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An I/O error whose message already names its path.
    #[error("{0}")]
    Io(std::io::Error),
    #[error("{0}")]
    Spawn(std::io::Error),
    /// A file operation on a remote host failed; the message is what the remote command
    /// said, which names the path and never its contents.
    #[error("host `{host}`: cannot {action} `{path}`: {message}")]
    Remote {
        host: String,
        action: &'static str,
        path: PathBuf,
        message: String,
    },
    /// A host could not be reached, or its connection dropped.
    #[error("host `{host}` is unreachable: {message}")]
    Unreachable { host: String, message: String },
}

impl HostError {
    fn file<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> Self + 'p {
        move |source| HostError::File {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

pub(crate) trait Host: Send + Sync {
    /// Everything an edit of `path` reads before it writes, in one call: on a remote host
    /// each call is a round trip, and an edit is on the critical path of every host.
    fn inspect<'a>(&'a self, path: &'a Path) -> HostFuture<'a, Inspected>;

    /// What `inspect` reads, for an edit that then replaces the file with
    /// [`Opened::commit`]. A remote host reads and writes in one session: one login shell
    /// per edit rather than two.
    fn open_edit<'a>(&'a self, path: &'a Path) -> HostFuture<'a, Opened> {
        Box::pin(async move {
            Ok(Opened {
                file: self.inspect(path).await?,
                session: None,
            })
        })
    }

    /// What [`Host::read`] reads, for checks before `path` is edited: a remote host keeps the
    /// session for the edit (see `ssh/edit.rs`).
    fn read_before_edit<'a>(&'a self, path: &'a Path) -> HostFuture<'a, Option<Vec<u8>>> {
        self.read(path)
    }

    /// A file's bytes; `None` when it does not exist.
    fn read<'a>(&'a self, path: &'a Path) -> HostFuture<'a, Option<Vec<u8>>>;

    /// Replaces `path` with `bytes` atomically (never torn), creating missing parent
    /// directories; the mode is `mode`, else the old file's (0600 for a new file), and owner
    /// and group are kept.
    fn write_atomic<'a>(
        &'a self,
        path: &'a Path,
        bytes: &'a [u8],
        mode: Option<u32>,
    ) -> HostFuture<'a, ()>;

    /// The same as `write_atomic`, except that `path` is replaced only once the future that
    /// `ready` returns has succeeded (for an edit: the journal holds where the old bytes are).
    /// A host may write and flush the new file beside `path` meanwhile: `ready` is called once
    /// that file is written, so the journal's fsync it starts overlaps the file's own and a
    /// journaling file system commits both at once. A host that cannot (a remote one, whose
    /// write is one round trip) waits first, then writes.
    fn write_atomic_after<'a>(
        &'a self,
        path: &'a Path,
        bytes: &'a [u8],
        mode: Option<u32>,
        ready: Ready<'a>,
    ) -> HostFuture<'a, ()> {
        Box::pin(async move {
            ready().await?;
            self.write_atomic(path, bytes, mode).await
        })
    }

    /// Keeps `previous` — what `path` held when it was read — as a hard link to `path` beside
    /// it (named after `tag`: the run and the step), if the host can: a link in the file's own
    /// directory becomes durable with the edit's fsync of that directory, so it costs no fsync
    /// of its own. `None` when it cannot (then `keep_backup` copies the bytes); the link's path
    /// otherwise, which holds exactly `previous` and is the file's only other name, so the
    /// rename of the edit leaves the old bytes to it alone. Not flushed: see
    /// `Durable::backup` for why that is enough.
    fn link_backup<'a>(
        &'a self,
        path: &'a Path,
        previous: &'a [u8],
        tag: &'a str,
    ) -> HostFuture<'a, Option<PathBuf>> {
        let _ = (path, previous, tag);
        Box::pin(async { Ok(None) })
    }

    /// Keeps `previous` — what `path` held when it was read — at `backup`, a 0600 file in the
    /// run's local state directory, before `path` is replaced. Flushed to disk on return.
    fn keep_backup<'a>(
        &'a self,
        path: &'a Path,
        previous: &'a [u8],
        backup: &'a Path,
    ) -> HostFuture<'a, ()>;

    /// Puts a file back as it was: `previous` with `mode`, or no file at all when `previous`
    /// is `None`.
    fn restore<'a>(
        &'a self,
        path: &'a Path,
        previous: Option<&'a [u8]>,
        mode: Option<u32>,
    ) -> HostFuture<'a, ()>;

    /// Removes the temporary copies that an atomic write cut off by a kill left beside
    /// `path` (each may hold a whole new version of the file, a new secret included) and
    /// says how many; none when the folder does not exist.
    fn remove_leftovers<'a>(&'a self, path: &'a Path) -> HostFuture<'a, usize>;

    /// Runs a process to its end in a process group of its own, streaming its output to
    /// `on_output`; `cancel` becoming true terminates the group (see `process.rs`).
    fn spawn<'a>(
        &'a self,
        process: &'a ProcessSpec,
        on_output: &'a mut OutputSink<'_>,
        cancel: watch::Receiver<bool>,
    ) -> HostFuture<'a, ProcessOutcome>;
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_inspected_file_debugs_without_its_bytes() {
        let inspected = super::Inspected {
            path: "/srv/.env.prod".into(),
            bytes: Some(b"JWT_SECRET=canary-value\n".to_vec()),
            mode: Some(0o600),
        };
        let shown = format!("{inspected:?}");
        assert!(!shown.contains("canary"), "{shown}");
        assert!(shown.contains("Some(24)"), "{shown}");
    }
}
