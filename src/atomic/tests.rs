//! Tests for atomic replacement: contents, modes, ownership, symlinks and cleanup.

use super::*;
use std::fs;
use std::os::unix::fs::symlink;

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Lists a directory's entries, so tests can prove no temporary file was left behind.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn write_atomic_replaces_contents_and_keeps_mode_0640() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env.prod");
    fs::write(&path, "OLD=1\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();

    write_atomic(&path, b"NEW=2\n", None).unwrap();

    assert_eq!(fs::read(&path).unwrap(), b"NEW=2\n");
    assert_eq!(mode_of(&path), 0o640);
    assert_eq!(entries(dir.path()), [".env.prod"]);
}

#[test]
fn write_atomic_applies_an_explicit_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("turnserver.conf");
    fs::write(&path, "old").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();

    write_atomic(&path, b"new", Some(0o640)).unwrap();

    assert_eq!(mode_of(&path), 0o640);
}

#[test]
fn write_atomic_creates_a_new_file_as_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.env");

    write_atomic(&path, b"A=1\n", None).unwrap();

    assert_eq!(fs::read(&path).unwrap(), b"A=1\n");
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(entries(dir.path()), ["fresh.env"]);
}

#[test]
fn write_atomic_edits_through_a_symlink_and_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.env");
    let link = dir.path().join(".env");
    fs::write(&real, "OLD=1\n").unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
    symlink("real.env", &link).unwrap();

    write_atomic(&link, b"NEW=2\n", None).unwrap();

    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("real.env"));
    assert_eq!(fs::read(&real).unwrap(), b"NEW=2\n");
    assert_eq!(mode_of(&real), 0o640);
    assert_eq!(entries(dir.path()), [".env", "real.env"]);
}

#[test]
fn write_atomic_through_a_dangling_symlink_creates_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join(".env");
    symlink("missing.env", &link).unwrap();

    write_atomic(&link, b"A=1\n", None).unwrap();

    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read(dir.path().join("missing.env")).unwrap(), b"A=1\n");
}

#[test]
fn write_atomic_keeps_owner_and_group_when_root() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("owned.env");
    fs::write(&path, "old").unwrap();
    if fs::metadata(&path).unwrap().uid() != 0 {
        eprintln!("skipped: changing a file's owner needs root");
        return;
    }
    std::os::unix::fs::chown(&path, Some(4242), Some(4343)).unwrap();

    write_atomic(&path, b"new", None).unwrap();

    let meta = fs::metadata(&path).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (4242, 4343));
}

#[test]
fn write_atomic_failure_leaves_no_temp_file_and_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // Renaming a file over a non-empty directory fails after the temp file exists.
    let target = dir.path().join("occupied");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("inside"), "x").unwrap();

    let err = write_atomic(&target, b"secret", None).unwrap_err();

    assert!(err.to_string().contains("occupied"), "{err}");
    assert_eq!(entries(dir.path()), ["occupied"]);
}

#[test]
fn write_atomic_error_for_a_missing_directory_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join(".env");

    let err = write_atomic(&path, b"A=1\n", None).unwrap_err();

    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn resolve_target_follows_a_chain_of_relative_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    fs::create_dir(root.join("sub")).unwrap();
    fs::write(root.join("sub/real.env"), "").unwrap();
    symlink("sub/real.env", root.join("one")).unwrap();
    symlink("one", root.join("two")).unwrap();

    assert_eq!(
        resolve_target(&root.join("two")).unwrap(),
        root.join("sub/real.env")
    );
}

#[test]
fn resolve_target_of_a_missing_file_canonicalizes_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    fs::create_dir(root.join("real-dir")).unwrap();
    symlink("real-dir", root.join("dir-link")).unwrap();

    assert_eq!(
        resolve_target(&root.join("dir-link/new.env")).unwrap(),
        root.join("real-dir/new.env")
    );
}

#[test]
fn resolve_target_reports_a_symlink_loop_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    symlink("b", &a).unwrap();
    symlink("a", dir.path().join("b")).unwrap();

    let err = resolve_target(&a).unwrap_err();

    assert!(err.to_string().contains(&*a.to_string_lossy()), "{err}");
}

#[test]
fn remove_leftovers_takes_only_our_temporary_copies_of_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join(".env.prod");
    std::fs::write(&target, "A=1\n").unwrap();
    let ours = ["..env.prod.runbook-Xy12Zq.tmp", "..env.prod.Ab12Cd.tmp"];
    let theirs = [
        "..env.prod.longer-name.tmp",
        "..env.prod.Ab12Cd.bak",
        "..env.other.runbook-Xy12Zq.tmp",
        ".env.prod.Ab12Cd.tmp",
    ];
    for name in ours.iter().chain(&theirs) {
        std::fs::write(dir.path().join(name), "x").unwrap();
    }
    assert_eq!(remove_leftovers(&target).unwrap(), 2);
    for name in ours {
        assert!(!dir.path().join(name).exists(), "{name} removed");
    }
    for name in theirs {
        assert!(dir.path().join(name).exists(), "{name} kept");
    }
    assert!(target.exists());
}
