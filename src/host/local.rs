//! `Local`: the machine `runbook` runs on. Its calls are quick, blocking file operations run
//! in place (a runbook's files are small, and a blocking thread per call cost more than the
//! call), and processes run in process groups of their own.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::sync::watch;

use super::process::{ProcessOutcome, ProcessSpec, run_process};
use super::{FileStat, Host, HostError, HostFuture, OutputSink};
use crate::atomic::{resolve_target, write_atomic};

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Local;

impl Host for Local {
    fn resolve<'a>(&'a self, path: &'a Path) -> HostFuture<'a, PathBuf> {
        Box::pin(async move { resolve_target(path).map_err(HostError::file("resolve", path)) })
    }

    fn read<'a>(&'a self, path: &'a Path) -> HostFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            match std::fs::read(path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(HostError::file("read", path)(e)),
            }
        })
    }

    fn stat<'a>(&'a self, path: &'a Path) -> HostFuture<'a, Option<FileStat>> {
        Box::pin(async move {
            match std::fs::metadata(path) {
                Ok(meta) => Ok(Some(FileStat {
                    mode: meta.permissions().mode() & 0o7777,
                })),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(HostError::file("stat", path)(e)),
            }
        })
    }

    fn write_atomic<'a>(
        &'a self,
        path: &'a Path,
        bytes: &'a [u8],
        mode: Option<u32>,
    ) -> HostFuture<'a, ()> {
        Box::pin(async move {
            if let Some(parent) = path.parent().filter(|p| !p.exists()) {
                std::fs::create_dir_all(parent).map_err(HostError::file("create", parent))?;
            }
            write_atomic(path, bytes, mode).map_err(HostError::Io)
        })
    }

    fn keep_backup<'a>(
        &'a self,
        path: &'a Path,
        previous: &'a [u8],
        backup: &'a Path,
    ) -> HostFuture<'a, ()> {
        Box::pin(async move {
            link_or_copy(path, previous, backup).map_err(HostError::file("back up", path))
        })
    }

    fn restore<'a>(
        &'a self,
        path: &'a Path,
        previous: Option<&'a [u8]>,
        mode: Option<u32>,
    ) -> HostFuture<'a, ()> {
        Box::pin(async move {
            match previous {
                Some(bytes) => write_atomic(path, bytes, mode).map_err(HostError::Io),
                None => match std::fs::remove_file(path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        Err(HostError::file("remove", path)(e))
                    }
                    _ => Ok(()),
                },
            }
        })
    }

    fn remove_leftovers<'a>(&'a self, path: &'a Path) -> HostFuture<'a, usize> {
        Box::pin(async move {
            match crate::atomic::remove_leftovers(path) {
                // A file step may create its file in a folder that does not exist yet.
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
                other => other.map_err(HostError::file("clean up beside", path)),
            }
        })
    }

    fn spawn<'a>(
        &'a self,
        process: &'a ProcessSpec,
        on_output: &'a mut OutputSink<'_>,
        cancel: watch::Receiver<bool>,
    ) -> HostFuture<'a, ProcessOutcome> {
        Box::pin(async move {
            run_process(process, on_output, cancel)
                .await
                .map_err(HostError::Spawn)
        })
    }
}

/// Keeps `bytes`, what `path` holds now, at `backup`. The edit that follows replaces `path` by
/// rename, which leaves the old inode to the backup alone: a hard link keeps the bytes without
/// copying them (a 10,000-line env file is 400 KB to write and flush). A 0600 copy is written
/// instead when linking is not possible (another filesystem, a file of another user) or the
/// link would not hold exactly `bytes` (the file has other links, or changed since it was
/// read). The run makes a linked backup 0600 once the edit has replaced the file.
fn link_or_copy(path: &Path, bytes: &[u8], backup: &Path) -> io::Result<()> {
    if std::fs::hard_link(path, backup).is_ok() {
        let exact = std::fs::metadata(backup).is_ok_and(|m| m.nlink() == 2)
            && holds_exactly(backup, bytes).unwrap_or(false);
        if exact {
            // Flushes the old data should it not be on disk yet (usually a no-op), then the
            // new directory entry.
            fs_err::File::open(backup)?.sync_all()?;
            if let Some(dir) = backup.parent() {
                fs_err::File::open(dir)?.sync_all()?;
            }
            return Ok(());
        }
        std::fs::remove_file(backup)?;
    }
    write_atomic(backup, bytes, Some(0o600))
}

/// Whether the file at `path` holds exactly `bytes`, read in small pieces: reading a large
/// file whole only to compare it cost a page fault per 4 KiB.
fn holds_exactly(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut chunk = [0u8; 16 * 1024];
    let mut offset = 0;
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => return Ok(offset == bytes.len()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if bytes.get(offset..offset + n) != Some(&chunk[..n]) {
            return Ok(false);
        }
        offset += n;
    }
}
