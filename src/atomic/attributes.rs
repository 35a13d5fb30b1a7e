//! What a file's attributes say before `write_atomic` replaces it: an immutable or
//! append-only file (`chattr +i`, `chattr +a`), or one in such a directory, cannot be
//! replaced at all, even by root, so a run would fail at its edit after earlier steps had
//! acted; a read-only file (no write bit) is replaced anyway, since a rename needs only the
//! directory, and its mode is kept.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rustix::fs::IFlags;

/// Why the file at `path` cannot be replaced, if its flags or its directory's forbid it.
pub(crate) fn unreplaceable(path: &Path) -> Option<String> {
    let target = super::resolve_target(path).ok()?;
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty())?;
    if let Some(flag) = blocking_flag(&target) {
        return Some(format!(
            "`{}` is {flag}: it cannot be replaced, even by root; `chattr -{} {}` first if it is to be rotated",
            target.display(),
            flag_letter(flag),
            target.display()
        ));
    }
    blocking_flag(dir).map(|flag| {
        format!(
            "the directory `{}` is {flag}: no file in it can be replaced; `chattr -{} {}` first",
            dir.display(),
            flag_letter(flag),
            dir.display()
        )
    })
}

/// `immutable` or `append-only` when the inode carries that flag. A file system without
/// inode flags (tmpfs answers ENOTTY) or a file that cannot be opened says nothing here.
fn blocking_flag(path: &Path) -> Option<&'static str> {
    let file = std::fs::File::open(path).ok()?;
    let flags = rustix::fs::ioctl_getflags(&file).ok()?;
    if flags.contains(IFlags::IMMUTABLE) {
        Some("immutable")
    } else if flags.contains(IFlags::APPEND) {
        Some("append-only")
    } else {
        None
    }
}

fn flag_letter(flag: &str) -> char {
    if flag == "immutable" { 'i' } else { 'a' }
}

/// A warning for a file nobody may write (0444): the edit replaces it all the same, keeping
/// that mode, which the operator should know rather than find out.
pub(crate) fn read_only_warning(path: &Path) -> Option<String> {
    let target = super::resolve_target(path).ok()?;
    let mode = std::fs::metadata(&target).ok()?.permissions().mode() & 0o7777;
    (mode & 0o222 == 0).then(|| {
        format!(
            "`{}` is read-only (mode {mode:04o}); the run replaces it anyway, keeping mode {mode:04o}",
            target.display()
        )
    })
}
