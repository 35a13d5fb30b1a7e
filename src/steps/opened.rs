//! The file an edit replaces, read while the run holds its lock on that file, so that two
//! steps of a run never edit one file at once and each reads what the other wrote.

use std::path::Path;

use tokio::sync::OwnedMutexGuard;

use super::{StepError, StepRun};
use crate::host::Opened;

/// The run's locks on a file that was read; held until this is dropped.
pub(crate) struct Locked {
    _guards: Vec<OwnedMutexGuard<()>>,
}

/// Reads `path` on the step's host (symlinks followed) under the lock on the file it names,
/// for an edit that replaces it with [`Opened::commit`].
///
/// The lock is taken on the path as given, before the file is read: on a remote host the
/// read is one round trip, and resolving first would be another. When the path turns out to
/// name another file (a symlink, or a path relative to a remote login directory), the lock on
/// that file is taken too and the file read again under it, since a step holding only that
/// lock may have written it in between. No deadlock: the second lock is always on a file
/// that names itself, and whoever holds such a lock takes no other.
pub(crate) async fn open(run: &StepRun, path: &Path) -> Result<(Opened, Locked), StepError> {
    let host = run.host();
    let lock = |path: &Path| run.ctx.file_lock(run.host_name(), path).lock_owned();
    let mut locks = vec![lock(path).await];
    let mut opened = host.open_edit(path).await?;
    if opened.file.path != path {
        let resolved = opened.file.path.clone();
        // The first read is dropped unwritten: the edit is of what the second one reads.
        drop(opened);
        locks.push(lock(&resolved).await);
        opened = host.open_edit(&resolved).await?;
    }
    Ok((opened, Locked { _guards: locks }))
}
