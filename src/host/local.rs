//! `Local`: the machine `runbook` runs on. Its calls are quick, blocking file operations run
//! in place (a runbook's files are small, and a blocking thread per call cost more than the
//! call), and processes run in process groups of their own.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::sync::watch;

use super::process::{ProcessOutcome, ProcessSpec, run_process};
use super::{Host, HostError, HostFuture, Inspected, OutputSink, Ready};
use crate::atomic::{resolve_target, write_atomic};

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Local;

impl Host for Local {
    fn inspect<'a>(&'a self, path: &'a Path) -> HostFuture<'a, Inspected> {
        Box::pin(async move {
            let path = resolve_target(path).map_err(HostError::file("resolve", path))?;
            let mode = match std::fs::metadata(&path) {
                Ok(meta) => Some(meta.permissions().mode() & 0o7777),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(HostError::file("stat", &path)(e)),
            };
            let bytes = self.read(&path).await?;
            Ok(Inspected { path, bytes, mode })
        })
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

    fn write_atomic<'a>(
        &'a self,
        path: &'a Path,
        bytes: &'a [u8],
        mode: Option<u32>,
    ) -> HostFuture<'a, ()> {
        Box::pin(async move {
            create_parent(path)?;
            write_atomic(path, bytes, mode).map_err(HostError::Io)
        })
    }

    fn write_atomic_after<'a>(
        &'a self,
        path: &'a Path,
        bytes: &'a [u8],
        mode: Option<u32>,
        ready: Ready<'a>,
    ) -> HostFuture<'a, ()> {
        Box::pin(async move {
            create_parent(path)?;
            let staged = crate::atomic::stage(path, bytes, mode).map_err(HostError::Io)?;
            let waiting = ready();
            staged.flush().map_err(HostError::Io)?;
            waiting.await?;
            staged.replace().map_err(HostError::Io)
        })
    }

    fn link_backup<'a>(
        &'a self,
        path: &'a Path,
        previous: &'a [u8],
        tag: &'a str,
    ) -> HostFuture<'a, Option<PathBuf>> {
        Box::pin(async move { Ok(super::beside::link(path, previous, tag)) })
    }

    fn keep_backup<'a>(
        &'a self,
        path: &'a Path,
        previous: &'a [u8],
        backup: &'a Path,
    ) -> HostFuture<'a, ()> {
        Box::pin(async move {
            write_atomic(backup, previous, Some(0o600)).map_err(HostError::file("back up", path))
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

/// Creates the missing folders above `path`, as an atomic write of it needs them.
fn create_parent(path: &Path) -> Result<(), HostError> {
    match path.parent().filter(|p| !p.exists()) {
        Some(parent) => std::fs::create_dir_all(parent).map_err(HostError::file("create", parent)),
        None => Ok(()),
    }
}
