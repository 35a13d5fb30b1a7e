//! Owns never-torn file replacement: readers see the old contents or the new, never a mix.
//!
//! The new contents go to a private temporary file in the target's directory,
//! which is flushed to disk and then renamed over the target. A crash at any
//! point leaves either the old file or the complete new one in place.

use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

mod attributes;
#[cfg(test)]
mod tests;

pub(crate) use attributes::{Replacing, replacing};

/// Mode for files that did not exist before: they hold secrets, so only the owner may read them.
const NEW_FILE_MODE: u32 = 0o600;

/// How many symlinks `resolve_target` follows before giving up, matching Linux's limit.
const MAX_SYMLINK_HOPS: usize = 40;

/// Replaces the file at `path` with `contents` atomically.
///
/// A symlink is edited at its target and stays a link. The new file gets
/// `mode` if given, otherwise the old file's mode (0600 for a new file), and
/// keeps the old file's owner and group where the process is allowed to set them.
pub fn write_atomic(path: &Path, contents: &[u8], mode: Option<u32>) -> io::Result<()> {
    let staged = stage(path, contents, mode)?;
    staged.flush()?;
    staged.replace()
}

/// A new version of a file, written beside it (owner, group and mode set) but not yet in its
/// place: `flush`, then `replace`. Dropped before `replace`, it is deleted.
pub(crate) struct Staged {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
}

/// The first part of [`write_atomic`]: the new contents in a temporary file beside the target.
pub(crate) fn stage(path: &Path, contents: &[u8], mode: Option<u32>) -> io::Result<Staged> {
    let target = resolve_target(path)?;
    let dir = match target.parent() {
        Some(dir) => dir,
        None => return Err(invalid_input(&target, "has no parent directory")),
    };
    let existing = match fs_err::metadata(&target) {
        Ok(meta) => Some(meta),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(err),
    };
    let mode = mode
        .or_else(|| existing.as_ref().map(|meta| meta.mode()))
        .unwrap_or(NEW_FILE_MODE)
        & 0o7777;

    // The temporary file must live in the target's directory: rename is only
    // atomic within one filesystem. It starts out 0600 so the secret is never
    // readable by others, even for a moment. Dropping it on any early return
    // deletes it, so a failed write leaves nothing behind.
    let mut temp = tempfile::Builder::new()
        .prefix(&temp_prefix(&target))
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(NEW_FILE_MODE))
        .tempfile_in(dir)
        .map_err(|err| annotate(err, "create a temporary file in", dir))?;
    let temp_path = temp.path().to_path_buf();
    temp.write_all(contents)
        .map_err(|err| annotate(err, "write", &temp_path))?;

    // Ownership is set before the mode because chown may clear set-id bits,
    // and both happen before the fsync so the metadata is durable along with the data.
    if let Some(meta) = &existing {
        let owner = rustix::fs::Uid::from_raw(meta.uid());
        let group = rustix::fs::Gid::from_raw(meta.gid());
        match rustix::fs::fchown(temp.as_file(), Some(owner), Some(group)) {
            Ok(()) => {}
            // Without root a user can neither give a file away nor give it a group they are
            // not in. Replacing it anyway would hand a 0640 root:app file to the operator's
            // own group and lock the service out of it, so it is refused (preflight says so
            // before anything runs; see `replacing`).
            Err(rustix::io::Errno::PERM) => {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    ownership_problem(&target, meta.uid(), meta.gid()).unwrap_or_else(|| {
                        format!("cannot keep the owner of `{}`", target.display())
                    }),
                ));
            }
            Err(errno) => return Err(annotate(errno.into(), "set the owner of", &temp_path)),
        }
    }
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|err| annotate(err, "set the mode of", &temp_path))?;
    Ok(Staged { temp, target })
}

impl Staged {
    /// Makes the new contents durable (the metadata set by `stage` with them).
    pub(crate) fn flush(&self) -> io::Result<()> {
        self.temp
            .as_file()
            .sync_all()
            .map_err(|err| annotate(err, "flush", self.temp.path()))
    }

    /// Renames the flushed file over the target, then makes the rename durable.
    pub(crate) fn replace(self) -> io::Result<()> {
        let Staged { temp, target } = self;
        crate::failpoint::hit("mid-write", &file_name(&target));
        // On failure `persist` hands the temporary file back; dropping it deletes it.
        temp.persist(&target)
            .map_err(|err| annotate(err.error, "replace", &target))?;
        // The rename itself is only durable once the directory entry is flushed.
        let dir = target.parent().unwrap_or(Path::new("."));
        fs_err::File::open(dir)?.sync_all()
    }
}

/// Why this process could not give a new file the owner `uid` and group `gid`, if it could not.
fn ownership_problem(target: &Path, uid: u32, gid: u32) -> Option<String> {
    let euid = rustix::process::geteuid();
    if euid.is_root() {
        return None;
    }
    if uid != euid.as_raw() {
        return Some(format!(
            "`{}` belongs to uid {}: replacing it as uid {} would make it yours; run as its owner or as root",
            target.display(),
            uid,
            euid.as_raw()
        ));
    }
    let egid = rustix::process::getegid().as_raw();
    let member = egid == gid
        || rustix::process::getgroups()
            .is_ok_and(|groups| groups.iter().any(|g| g.as_raw() == gid));
    (!member).then(|| {
        format!(
            "`{}` has group {}, which you are not in: replacing it would give it your group {egid} and lock that group out; run as root or as a member of group {}",
            target.display(),
            gid,
            gid
        )
    })
}

/// Returns the real file that writing to `path` should replace.
///
/// Symlinks are followed, including dangling ones, so a symlinked `.env` is
/// edited at its target. For a file that does not exist yet this is the path
/// itself inside its canonicalized parent directory.
pub fn resolve_target(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINK_HOPS {
        match fs_err::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs_err::read_link(&current)?;
                // A relative link target is relative to the link's directory, not ours.
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            Ok(_) => return fs_err::canonicalize(&current),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return resolve_missing(&current),
            Err(err) => return Err(err),
        }
    }
    Err(io::Error::other(format!(
        "failed to resolve `{}`: more than {MAX_SYMLINK_HOPS} levels of symlinks",
        path.display()
    )))
}

/// Resolves a path that does not exist yet by canonicalizing its directory.
fn resolve_missing(path: &Path) -> io::Result<PathBuf> {
    let name = match path.file_name() {
        Some(name) => name,
        None => return Err(invalid_input(path, "does not name a file")),
    };
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    Ok(fs_err::canonicalize(parent)?.join(name))
}

/// A hidden name next to the target that says whose it is, so a leftover from a crash (a kill
/// between creating the temporary file and renaming it) is found and removed by
/// [`remove_leftovers`].
fn temp_prefix(target: &Path) -> String {
    format!(".{}.{TEMP_MARK}", file_name(target))
}

/// What follows the target's name in every temporary file name: `..env.prod.runbook-Ab12Cd.tmp`.
const TEMP_MARK: &str = "runbook-";
/// Earlier versions named them `..env.prod.Ab12Cd.tmp`: six random characters, no mark.
const LEGACY_RANDOM_LEN: usize = 6;

fn file_name(target: &Path) -> String {
    target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Removes the temporary files that interrupted writes of `path` left beside it, and returns
/// how many there were. Each holds a whole new version of the file (secrets included), 0600.
/// Only call it while holding the run lock: then no write of ours is in flight, so every such
/// file is a leftover.
pub fn remove_leftovers(path: &Path) -> io::Result<usize> {
    remove_leftovers_and(path, |_, _| false).map(|(temps, _)| temps)
}

/// The same, also removing the other files beside the target that `also(target, name)` picks,
/// in the same listing of its directory: how many temporary copies and how many others.
pub(crate) fn remove_leftovers_and(
    path: &Path,
    mut also: impl FnMut(&Path, &str) -> bool,
) -> io::Result<(usize, usize)> {
    let target = resolve_target(path)?;
    let Some(dir) = target.parent() else {
        return Ok((0, 0));
    };
    let prefix = format!(".{}.", file_name(&target));
    let (mut temps, mut others) = (0, 0);
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| n.starts_with(&prefix)) else {
            continue;
        };
        let temp = name
            .strip_prefix(&prefix)
            .and_then(|n| n.strip_suffix(".tmp"))
            .is_some_and(|middle| {
                middle.starts_with(TEMP_MARK)
                    || (middle.len() == LEGACY_RANDOM_LEN
                        && middle.bytes().all(|b| b.is_ascii_alphanumeric()))
            });
        let other = !temp && also(&target, name);
        // A regular file only: never follow or remove a link someone put there.
        if (temp || other) && entry.file_type()?.is_file() {
            fs_err::remove_file(entry.path())?;
            if temp {
                temps += 1;
            } else {
                others += 1;
            }
        }
    }
    Ok((temps, others))
}

fn annotate(err: io::Error, action: &str, path: &Path) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("failed to {action} `{}`: {err}", path.display()),
    )
}

fn invalid_input(path: &Path, problem: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("`{}` {problem}", path.display()),
    )
}
