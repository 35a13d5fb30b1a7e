//! Backups kept beside the files they hold: a hard link to the file about to be replaced, in
//! its own directory, named `.<name>.runbook-<run>-<step>.bak`. The edit that follows renames
//! a new file over the old one, so the old inode — exactly the bytes read — then belongs to
//! the link alone; and the edit's fsync of that directory makes the link durable with the
//! rename, so keeping the old bytes costs no fsync of its own and no copy.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What follows the file's name in a backup's name, before the run id.
const MARK: &str = "runbook-";
const SUFFIX: &str = ".bak";

fn link_path(path: &Path, tag: &str) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    Some(path.with_file_name(format!(".{name}.{MARK}{tag}{SUFFIX}")))
}

/// Links `path` beside itself and returns the link, if the link holds exactly `bytes` and is
/// the file's only other name; `None` (and no link left) when linking is not possible (a file
/// system without hard links, a file of another user under `fs.protected_hardlinks`) or the
/// link would not hold the old bytes alone (the file has other names, or changed since it was
/// read), and the caller copies the bytes instead.
pub(super) fn link(path: &Path, bytes: &[u8], tag: &str) -> Option<PathBuf> {
    let link = link_path(path, tag)?;
    if let Err(e) = std::fs::hard_link(path, &link) {
        // A try of the same step that failed after linking left this; it holds the same file.
        if e.kind() != io::ErrorKind::AlreadyExists {
            return None;
        }
        std::fs::remove_file(&link).ok()?;
        std::fs::hard_link(path, &link).ok()?;
    }
    let exact = std::fs::metadata(&link).is_ok_and(|m| m.nlink() == 2)
        && holds_exactly(&link, bytes).unwrap_or(false);
    if exact {
        Some(link)
    } else {
        let _ = std::fs::remove_file(&link);
        None
    }
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

/// Whether `name`, beside the file at `path`, is a backup of it that belongs to no run but
/// `keep` (the run being resumed or aborted; `None` for a new run). Each holds an old version
/// of the file (an old secret included). Only remove them holding the run lock with no other
/// run unfinished: then every other backup is left by a run that ended while a power cut lost
/// the removal of its backups, or that was lost whole to one before it began.
pub(crate) fn is_stale_backup(path: &Path, name: &str, keep: Option<&str>) -> bool {
    let Some(own) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let Some(tag) = name
        .strip_prefix('.')
        .and_then(|n| n.strip_prefix(own))
        .and_then(|n| n.strip_prefix('.'))
        .and_then(|n| n.strip_prefix(MARK))
        .and_then(|n| n.strip_suffix(SUFFIX))
    else {
        return false;
    };
    let Some((run, step)) = tag.rsplit_once('-') else {
        return false;
    };
    !run.is_empty() && step.bytes().all(|b| b.is_ascii_digit()) && Some(run) != keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_beside_keeps_the_old_bytes_after_the_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, b"A=1\n").unwrap();
        let link = link(&path, b"A=1\n", "20260101T000000Z-abc123-3").unwrap();
        assert_eq!(
            link.file_name().unwrap(),
            "..env.runbook-20260101T000000Z-abc123-3.bak"
        );
        crate::atomic::write_atomic(&path, b"A=2\n", None).unwrap();
        assert_eq!(std::fs::read(&link).unwrap(), b"A=1\n");
    }

    #[test]
    fn no_link_is_kept_when_it_would_not_hold_the_bytes_read_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"now").unwrap();
        assert!(link(&path, b"then", "r-1").is_none());
        std::fs::hard_link(&path, dir.path().join("other-name")).unwrap();
        assert!(link(&path, b"now", "r-1").is_none());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn leftovers_of_other_runs_and_temporary_copies_go_in_one_listing_and_the_kept_runs_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, b"A=1\n").unwrap();
        for name in [
            "..env.runbook-old-run-0.bak",
            "..env.runbook-this-run-2.bak",
            "..env.runbook-x.tmp",
            "..env.other.bak",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let removed = crate::atomic::remove_leftovers_and(&path, |target, name| {
            is_stale_backup(target, name, Some("this-run"))
        });
        assert_eq!(removed.unwrap(), (1, 1));
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["..env.other.bak", "..env.runbook-this-run-2.bak", ".env",]
        );
    }
}
