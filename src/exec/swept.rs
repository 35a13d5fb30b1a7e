//! What the last complete sweep saw, so that the next start can skip reading every past run.
//!
//! The sweep (`sweep.rs`) looks at every folder under `runs/` because the active marker is not
//! fsynced: a power cut can lose it while the journal of the run it named says that run acted
//! and did not end. Without a power cut the marker is exact — a killed process leaves its
//! write in the page cache — so between two starts in the same boot the only run folders that
//! can need anything are the one the marker names and any folder created or removed without a
//! sweep to see it (a run killed before it wrote the marker, or a folder changed by hand).
//! A `stat` of `runs/` tells the second: on ext4 and XFS a directory's link count is two plus
//! its subfolders, so adding or removing a run folder changes it, and its change time moves
//! with any entry. A history of 1,000 runs cost every start 1,000 `stat` calls (about 5 ms
//! here); with this, one.
//!
//! `swept` (0600) holds one line: the kernel's boot id and `runs/`'s device, inode, link count
//! and change and modification times, written in place once a start has left every run that
//! needs something named by the marker. A start whose boot and `runs/` are exactly as written
//! examines only the marked run; anything else — another boot (a power cut may have lost the
//! marker), a folder added or removed, a file system whose directories do not count their
//! subfolders (btrfs says 1), a file that is missing, foreign or garbled — examines them all.

use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use crate::journal::boot_id;
use crate::state::StateDir;

/// The file, in the state directory.
const FILE: &str = "swept";
/// A file longer than this was not written by us.
const MAX_BYTES: u64 = 256;

fn path(state: &StateDir) -> PathBuf {
    state.root.join(FILE)
}

/// The line that says `runs/` is as it is now, in this boot; `None` when that cannot be known
/// exactly (no boot id, no `runs/`, a directory that does not count its subfolders).
fn current(state: &StateDir) -> Option<String> {
    let boot = boot_id()?;
    let meta = std::fs::symlink_metadata(state.root.join("runs")).ok()?;
    if !meta.is_dir() || meta.nlink() < 2 {
        return None;
    }
    // Fixed width, so that writing it in place over an older line leaves nothing of that one.
    Some(format!(
        "{boot:<40} {:016x} {:016x} {:016x} {:016x}.{:08x} {:016x}.{:08x}\n",
        meta.dev(),
        meta.ino(),
        meta.nlink(),
        meta.ctime(),
        meta.ctime_nsec(),
        meta.mtime(),
        meta.mtime_nsec(),
    ))
}

/// Whether the last complete sweep saw `runs/` exactly as it is now, in this boot: if so, the
/// active marker names every run that can need anything.
pub(crate) fn unchanged(state: &StateDir) -> bool {
    let Some(now) = current(state) else {
        return false;
    };
    let Ok(file) = std::fs::File::open(path(state)) else {
        return false;
    };
    let ours = file.metadata().is_ok_and(|meta| {
        meta.is_file()
            && meta.uid() == rustix::process::geteuid().as_raw()
            && meta.mode() & 0o022 == 0
            && meta.len() <= MAX_BYTES
    });
    let mut text = String::new();
    ours && file.take(MAX_BYTES).read_to_string(&mut text).is_ok() && text == now
}

/// Writes down `runs/` as it is now. Call it holding the run lock, once every run that needs
/// anything is named by the active marker. A failure is not an error: the next start examines
/// every run, as it would without the file.
pub(crate) fn record(state: &StateDir) {
    let Some(line) = current(state) else {
        return forget(state);
    };
    // In place: a new file per run would cost an inode, which is what this saves. A write
    // that a kill cuts short cannot happen (one `pwrite` into the page cache); one that a
    // power cut tears is read in another boot, which matches nothing.
    let open = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path(state))
    };
    let written = open()
        .and_then(|file| {
            // One that is not ours alone (another owner, open to others) is replaced, so that
            // the next start can trust what is written.
            let meta = file.metadata()?;
            if meta.uid() == rustix::process::geteuid().as_raw() && meta.mode() & 0o077 == 0 {
                return Ok(file);
            }
            drop(file);
            forget(state);
            open()
        })
        .and_then(|file| {
            file.write_all_at(line.as_bytes(), 0)?;
            file.set_len(line.len() as u64)
        });
    if written.is_err() {
        forget(state);
    }
}

/// Makes the next start examine every run.
pub(crate) fn forget(state: &StateDir) {
    let _ = std::fs::remove_file(path(state));
}
