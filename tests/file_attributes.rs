//! An env file's attributes, checked before anything runs: an immutable one (`chattr +i`)
//! cannot be replaced even by root, so the run is refused (exit 2) before any side effect; a
//! read-only one (0444) is replaced keeping its mode, with a warning.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::Test;

const ENV: &str = "JWT_SECRET=old-jwt-value-0123456789\n";

/// A rotation whose first step leaves a marker: a refused run must not have run it.
const RUNBOOK: &str = "name: jwt-rotation\nsecret:\n  id: jwt\n  env: [JWT_SECRET]\n  every: 90d\n  impact: sessions end\nsteps:\n  - id: before\n    exec: { run: touch before-ran }\n  - id: new\n    generate: { bytes: 32, encoding: hex }\n  - id: write\n    needs: [new, before]\n    env: { set: { JWT_SECRET: '{{ steps.new.value }}' } }\n";

fn project() -> Test {
    Test::new()
        .file("runbook.yaml", "vars:\n  env_file: .env.prod\n")
        .file("runbooks/jwt.yaml", RUNBOOK)
        .file(".env.prod", ENV)
}

#[test]
fn a_read_only_env_file_is_rotated_with_a_warning_and_keeps_its_mode() {
    let test = project().args(&["run", "jwt-rotation", "--yes"]);
    let path = test.path().join(".env.prod");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let run = test.run();
    run.expect_code(0);
    assert!(
        run.stderr.contains("is read-only (mode 0444)"),
        "{}",
        run.stderr
    );
    assert_ne!(test.read(".env.prod"), ENV.as_bytes(), "rotated");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o444);
}

/// Clears the immutable flag on drop, so the test directory can be removed.
struct Immutable(std::path::PathBuf);

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn an_immutable_env_file_is_refused_before_any_side_effect() {
    let test = project().args(&["run", "jwt-rotation", "--yes"]);
    let path = test.path().join(".env.prod");
    let set = std::process::Command::new("chattr")
        .arg("+i")
        .arg(&path)
        .output();
    let _guard = Immutable(path.clone());
    if !set.as_ref().is_ok_and(|o| o.status.success()) {
        // Needs root (CAP_LINUX_IMMUTABLE) and a file system with inode flags.
        assert!(
            std::env::var("CI").is_err(),
            "CI must be able to `chattr +i` a file: {set:?}"
        );
        eprintln!("SKIPPED: cannot `chattr +i` here (not root, or no inode flags): {set:?}");
        return;
    }
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("is immutable") && run.stderr.contains("chattr -i"),
        "{}",
        run.stderr
    );
    assert!(!test.path().join("before-ran").exists(), "no step ran");
    assert!(!test.path().join(".runbook/runs").exists(), "no run began");
    assert_eq!(test.read(".env.prod"), ENV.as_bytes());
}
