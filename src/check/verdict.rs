//! A library the checker found without a problem is remembered, so that the next command on
//! the same library skips the checks (a third of `validate`'s instructions) and `validate`
//! skips the parse as well.
//!
//! What is remembered is a BLAKE3 digest (a cryptographic hash: no two libraries are
//! remembered as one) over everything the checker's verdict depends on: this very executable
//! (its version, path, inode and times: a rebuilt binary is another checker), the project as
//! the checker sees it (config, vars, inventory, paths), and each
//! runbook file's path and bytes, as read once for both the key and the parse. The checks
//! read nothing else (no clock, no environment, no other file). Only verdicts without any
//! problem are kept, so diagnostics always come from a full check. The digests live in
//! `validated` in the state directory, mode 0600; one that is unreadable, foreign (another
//! owner, writable by others) or garbled matches nothing and costs a full check.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::load::Files;
use crate::project::Project;

/// The file of remembered digests, in the state directory.
const FILE: &str = "validated";
/// How many libraries are remembered: a few branches or edits back, in a file of 1 KiB.
const KEPT: usize = 16;
/// A file larger than this was not written by us; it is not read.
const MAX_BYTES: u64 = 64 * 1024;

/// The digest of one check's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key(String);

impl Key {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// The key of checking `files` in `project`, or `None` when it cannot be known exactly (a
/// file or directory that could not be read, an executable that cannot be identified).
pub(crate) fn key(project: &Project, files: &Files) -> Option<Key> {
    let texts = files.texts()?;
    let exe = std::env::current_exe().ok()?;
    let meta = std::fs::metadata(&exe).ok()?;
    // Every command hashes the whole library (125 KB shipped). BLAKE3 runs on the SIMD units
    // of any x86-64; SHA-256 is as fast only with the SHA extensions, which many servers lack
    // (without them it was 6.6 M instructions here, half of a `plan`).
    let mut hash = blake3::Hasher::new();
    // Each field is length-prefixed, so no two different inputs hash the same bytes.
    let mut field = |bytes: &[u8]| {
        hash.update(&(bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    field(env!("CARGO_PKG_VERSION").as_bytes());
    field(exe.as_os_str().as_bytes());
    for number in [
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime().cast_unsigned(),
        meta.mtime_nsec().cast_unsigned(),
        meta.ctime().cast_unsigned(),
        meta.ctime_nsec().cast_unsigned(),
    ] {
        field(&number.to_le_bytes());
    }
    // Every field of the project, the config's vars, restart driver and inventory included
    // (all ordered maps, so the text is the same each time).
    field(format!("{project:?}").as_bytes());
    if let Some(config) = &project.config_source {
        field(config.text.as_bytes());
    }
    for (path, text) in texts {
        field(path.as_os_str().as_bytes());
        field(text.as_bytes());
    }
    Some(Key(hash.finalize().to_hex().to_string()))
}

fn path(project: &Project) -> PathBuf {
    project.state_dir.join(FILE)
}

/// The text of a file in the state directory, if it is ours: a regular file owned by this
/// user, writable by no one else, of at most `max` bytes.
pub(crate) fn read_private(path: &std::path::Path, max: u64) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let trusted = file.metadata().is_ok_and(|meta| {
        meta.is_file()
            && meta.uid() == rustix::process::geteuid().as_raw()
            && meta.mode() & 0o022 == 0
            && meta.len() <= max
    });
    if !trusted {
        return None;
    }
    // One byte more than `max` is read so that a file grown since its `stat` is refused too.
    let bytes = crate::load::read_capped(&file, max).ok()?;
    if bytes.len() as u64 > max {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// The remembered digests, if the file is ours.
fn remembered(project: &Project) -> Vec<String> {
    let Some(text) = read_private(&path(project), MAX_BYTES) else {
        return Vec::new();
    };
    text.lines()
        .filter(|line| line.len() == 64 && line.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
        .collect()
}

/// Whether these exact inputs were checked before and had no problem.
pub(crate) fn known_valid(project: &Project, key: &Key) -> bool {
    let known = remembered(project).contains(&key.0);
    if known {
        tracing::debug!(
            "the runbooks, the project and runbook are as when last checked without a problem: not checked again"
        );
    }
    known
}

/// Remembers that these inputs have no problem. `create` says whether the state directory
/// may be made for it (by `validate`, which writes nothing else); otherwise only an existing
/// one is used, so that a command refused for another reason leaves nothing behind. A
/// failure to write is not an error: the next command checks in full.
pub(crate) fn remember(project: &Project, key: &Key, create: bool) {
    let dir = &project.state_dir;
    let ready = if create {
        crate::state::ensure_dir(dir).is_ok()
    } else {
        dir.is_dir()
    };
    if !ready {
        return;
    }
    let mut keys = remembered(project);
    if keys.first() == Some(&key.0) {
        return;
    }
    keys.retain(|k| *k != key.0);
    keys.insert(0, key.0.clone());
    keys.truncate(KEPT);
    let mut text = keys.join("\n");
    text.push('\n');
    // Atomic, so a reader never sees half a digest match by accident.
    let _ = crate::atomic::write_atomic(&path(project), text.as_bytes(), Some(0o600));
}
