//! What a fleet run costs each host in SSH terms, counted through the real binary and the
//! real `ssh` client (a wrapper first on `PATH` notes each invocation's arguments, which
//! never hold a secret, and execs it): one handshake per host for preflight and the steps
//! together, one remote command for preflight's read of an env file and the first edit of it
//! (preflight's session stays open, reads the file anew for the edit, then writes it), and
//! one close per host. A count, not a timing:
//! each remote command is a session and a login shell on the host, which is what a fleet run
//! waits for.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use common::fleet::{ROTATION, project, servers, with_inventory};

/// How `runbook` used `ssh` towards one host.
#[derive(Debug, Default, PartialEq, Eq)]
struct Uses {
    handshakes: usize,
    commands: usize,
    closes: usize,
    checks: usize,
}

fn real_ssh() -> std::path::PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("ssh"))
        .find(|path| path.is_file())
        .expect("the ssh client")
}

#[test]
fn each_host_gets_one_handshake_and_one_remote_command_for_preflight_and_its_env_edit() {
    let Some(hosts) = servers(2) else { return };
    let test = project(&hosts, ROTATION);
    let bin = test.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = test.path().join("ssh.log");
    let wrapper = bin.join("ssh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s\\0' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real_ssh().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let test = test.env("PATH", &path);
    let run = with_inventory(&test, &[], &["run", "fleet-rotation", "--yes"]);
    run.expect_code(0);

    let mut by_port: BTreeMap<String, Uses> = BTreeMap::new();
    // One record per invocation, NUL-terminated: a remote script spans lines.
    let records = std::fs::read_to_string(&log).unwrap();
    for line in records.split_terminator('\0') {
        let words: Vec<&str> = line.split([' ', '\n']).collect();
        let port = words
            .iter()
            .position(|w| *w == "-p")
            .map(|at| words[at + 1].to_string())
            .expect("every invocation names its host's port");
        let uses = by_port.entry(port).or_default();
        if line.contains("ControlMaster=yes") {
            uses.handshakes += 1;
        } else if line.contains("-O exit") {
            uses.closes += 1;
        } else if line.contains("-O check") {
            uses.checks += 1;
        } else {
            uses.commands += 1;
        }
    }
    assert_eq!(by_port.len(), hosts.len(), "{by_port:?}");
    for uses in by_port.values() {
        // Preflight's read of the env file, whose session the edit takes up (it reads the file
        // anew, then replaces it); then the `seen` command, the restart driver and the verify
        // command.
        assert_eq!(
            *uses,
            Uses {
                handshakes: 1,
                commands: 4,
                closes: 1,
                checks: 0,
            }
        );
    }
}
