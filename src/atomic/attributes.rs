//! What a file's attributes say before `write_atomic` replaces it: an immutable or
//! append-only file (`chattr +i`, `chattr +a`), or one in such a directory, cannot be
//! replaced at all, even by root, so a run would fail at its edit after earlier steps had
//! acted; a read-only file (no write bit) is replaced anyway, since a rename needs only the
//! directory, and its mode is kept.

use std::path::Path;

use rustix::fs::{AtFlags, CWD, IFlags, Statx, StatxAttributes, StatxFlags, statx};

/// What replacing the file at `path` would meet, from one resolution of its symlinks and one
/// `statx` each of the file and its directory (checked one by one, each check resolved the
/// path again and opened both for their flags: about 25 system calls per edited file).
#[derive(Default)]
pub(crate) struct Replacing {
    /// Why it cannot be replaced at all (its flags or its directory's).
    pub blocked: Option<String>,
    /// That nobody may write it: replaced all the same, keeping that mode.
    pub read_only: Option<String>,
    /// Why its owner and group could not be kept (see `write_atomic`).
    pub ownership: Option<String>,
}

pub(crate) fn replacing(path: &Path) -> Replacing {
    let target = match super::resolve_target(path) {
        Ok(target) => target,
        Err(e) => {
            return Replacing {
                ownership: Some(e.to_string()),
                ..Replacing::default()
            };
        }
    };
    let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Replacing::default();
    };
    let file = stat(&target);
    let blocked = if let Some(flag) = file.as_ref().and_then(|s| blocking_flag(&target, s)) {
        Some(format!(
            "`{}` is {flag}: it cannot be replaced, even by root; `chattr -{} {}` first if it is to be rotated",
            target.display(),
            flag_letter(flag),
            target.display()
        ))
    } else {
        stat(dir)
            .and_then(|s| blocking_flag(dir, &s))
            .map(|flag| {
                format!(
                    "the directory `{}` is {flag}: no file in it can be replaced; `chattr -{} {}` first",
                    dir.display(),
                    flag_letter(flag),
                    dir.display()
                )
            })
    };
    let Some(file) = file else {
        return Replacing {
            blocked,
            ..Replacing::default()
        };
    };
    let mode = u32::from(file.stx_mode) & 0o7777;
    Replacing {
        blocked,
        read_only: (mode & 0o222 == 0).then(|| {
            format!(
                "`{}` is read-only (mode {mode:04o}); the run replaces it anyway, keeping mode {mode:04o}",
                target.display()
            )
        }),
        ownership: super::ownership_problem(&target, file.stx_uid, file.stx_gid),
    }
}

fn stat(path: &Path) -> Option<Statx> {
    statx(CWD, path, AtFlags::empty(), StatxFlags::BASIC_STATS).ok()
}

/// `immutable` or `append-only` when the inode carries that flag: from `statx`, or where the
/// file system does not report them there, from the inode's flags. A file system without
/// inode flags (tmpfs answers ENOTTY) or a file that cannot be opened says nothing here.
fn blocking_flag(path: &Path, stat: &Statx) -> Option<&'static str> {
    let both = StatxAttributes::IMMUTABLE | StatxAttributes::APPEND;
    let (immutable, append) = if stat.stx_attributes_mask.contains(both) {
        (
            stat.stx_attributes.contains(StatxAttributes::IMMUTABLE),
            stat.stx_attributes.contains(StatxAttributes::APPEND),
        )
    } else {
        let file = std::fs::File::open(path).ok()?;
        let flags = rustix::fs::ioctl_getflags(&file).ok()?;
        (
            flags.contains(IFlags::IMMUTABLE),
            flags.contains(IFlags::APPEND),
        )
    };
    if immutable {
        Some("immutable")
    } else if append {
        Some("append-only")
    } else {
        None
    }
}

fn flag_letter(flag: &str) -> char {
    if flag == "immutable" { 'i' } else { 'a' }
}
