//! An edit keeps the file's owner and group, or does not happen: an operator who is not root
//! and not in the file's group is refused before anything runs, instead of the rewrite giving
//! a 0640 `root:app` env file the operator's own group and locking the service out of it.
//!
//! Needs root to set the scene (a file of a group the operator is not in); the run itself is
//! made as `nobody`.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::Path;

use common::Test;

const NOBODY: u32 = 65534;
const ENV: &str = "APP_TOKEN=old-token-value-1234\nOTHER=1\n";
const RUNBOOK: &str = r#"name: app-token
secret: { id: app-token, env: [APP_TOKEN], every: 90d, impact: none }
steps:
  - id: new
    generate: { bytes: 16, encoding: hex }
  - id: write
    needs: [new]
    env: { set: { APP_TOKEN: "{{ steps.new.value }}" } }
"#;
/// A whole-file write, checked the same way.
const CONF_RUNBOOK: &str = r#"name: conf
steps:
  - id: write
    file: { path: app.conf, content: "listen 8080\n" }
"#;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
    })
}

/// A project owned by `nobody`, with the binary linked in (the build tree may sit under a
/// directory `nobody` cannot enter), and an env file of group `gid`, mode 0640.
fn project(gid: u32) -> Test {
    let test = Test::new()
        .file("runbooks/app.yaml", RUNBOOK)
        .file("runbooks/conf.yaml", CONF_RUNBOOK)
        .file("app.conf", "listen 80\n")
        .file(".env.prod", ENV);
    let bin = test.path().join("runbook");
    if std::fs::hard_link(common::binary(), &bin).is_err() {
        std::fs::copy(common::binary(), &bin).unwrap();
    }
    for path in [test.path().to_path_buf(), test.path().join("runbooks")] {
        chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for file in [".env.prod", "app.conf"] {
        let path = test.path().join(file);
        chown(&path, Some(NOBODY), Some(gid)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    test
}

fn run_as_nobody(test: &Test, runbook: &str) -> std::process::Output {
    std::process::Command::new(test.path().join("runbook"))
        .args(["run", runbook, "--yes"])
        .current_dir(test.path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap()
}

fn owner(path: &Path) -> (u32, u32, u32) {
    let meta = std::fs::metadata(path).unwrap();
    (meta.uid(), meta.gid(), meta.mode() & 0o7777)
}

#[test]
fn an_env_file_whose_group_cannot_be_kept_is_refused_before_anything_runs() {
    if !is_root() {
        let message = "SKIPPED: setting up a file of another group needs root";
        assert!(
            std::env::var("CI").is_err(),
            "{message}; CI runs as root, so this fails instead"
        );
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "\n*** {message} ***\n");
        return;
    }

    // Group 0 (root): `nobody` is not in it.
    let test = project(0);
    let env = test.path().join(".env.prod");
    let output = run_as_nobody(&test, "app-token");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("has group 0, which you are not in"),
        "{stderr}"
    );
    assert!(!stderr.contains("old-token-value"), "no value in the error");
    assert_eq!(
        std::fs::read_to_string(&env).unwrap(),
        ENV,
        "nothing was written"
    );
    assert_eq!(owner(&env), (NOBODY, 0, 0o640));
    assert!(
        !test.path().join(".runbook/active").exists(),
        "no run was started"
    );
    let output = run_as_nobody(&test, "conf");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("step `conf/write`") && stderr.contains("has group 0"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(test.path().join("app.conf")).unwrap(),
        "listen 80\n"
    );

    // The same file in nobody's own group: the edit happens and keeps owner, group and mode.
    let test = project(NOBODY);
    let env = test.path().join(".env.prod");
    let output = run_as_nobody(&test, "app-token");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let edited = std::fs::read_to_string(&env).unwrap();
    assert!(!edited.contains("old-token-value") && edited.ends_with("OTHER=1\n"));
    assert_eq!(owner(&env), (NOBODY, NOBODY, 0o640));
}
