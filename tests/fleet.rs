//! Rotations across hosts reached over real `sshd` servers on loopback, through the real
//! binary: a shared secret generated once and written to every host, rollback of every
//! host on a failure, a host that drops mid-run, a timeout that kills the remote tree, and
//! no secret on any local or remote command line.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::fleet::{ENV, ROTATION, env_value, eventually, project, servers};

/// Every command line seen on this machine while `f` runs — local and, since the hosts are
/// on loopback, remote ones too.
fn sampling_command_lines<T>(f: impl FnOnce() -> T) -> (T, BTreeSet<String>) {
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut seen = BTreeSet::new();
            while !done.load(Ordering::SeqCst) {
                for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
                        seen.insert(String::from_utf8_lossy(&bytes).replace('\0', " "));
                    }
                }
            }
            seen
        })
    };
    let result = f();
    done.store(true, Ordering::SeqCst);
    (result, sampler.join().expect("sampler"))
}

#[test]
fn a_shared_secret_is_generated_once_and_written_to_every_host() {
    let Some(hosts) = servers(3) else { return };
    let test =
        project(&hosts, ROTATION).args(&["--inventory", "inventory.yaml", "run", "fleet-rotation"]);
    let (run, command_lines) = sampling_command_lines(|| test.run());
    run.expect_code(0);
    let value = env_value(&hosts[0].path("app.env"));
    assert_eq!(value.len(), 48, "a new hex value of 24 bytes");
    for host in &hosts {
        let bytes = std::fs::read_to_string(host.path("app.env")).unwrap();
        assert_eq!(
            bytes,
            ENV.replace("old-token-value", &value),
            "only the value changed"
        );
        assert_eq!(std::fs::read_to_string(host.path("seen")).unwrap(), value);
        assert_eq!(
            std::fs::read_to_string(host.path("restarts")).unwrap(),
            "restarted api\n"
        );
    }
    for line in &command_lines {
        assert!(
            !line.contains(&value),
            "the secret on a command line: {line}"
        );
        assert!(
            !line.contains("old-token-value"),
            "the old secret on a command line"
        );
    }
    assert!(
        command_lines.iter().any(|l| l.contains("ControlPath=")),
        "the sampler saw the run's ssh processes"
    );
    for output in [&run.stdout, &run.stderr] {
        assert!(!output.contains(&value) && !output.contains("old-token-value"));
    }
    for host in ["web1", "web2", "web3"] {
        assert!(run.stdout.contains(&format!("fleet-rotation/write@{host}")));
    }
}

#[test]
fn plan_shows_each_host_and_a_shared_generate_once() {
    let Some(hosts) = servers(2) else { return };
    let test = project(&hosts, ROTATION);
    let run = test.run_args(&[
        "--inventory",
        "inventory.yaml",
        "plan",
        "fleet-rotation",
        "--format",
        "json",
    ]);
    run.expect_code(0);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let names: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.iter().filter(|n| n.contains("/new")).count(), 1);
    assert!(names.contains(&"fleet-rotation/write@web1"));
    assert!(names.contains(&"fleet-rotation/write@web2"));
    let limited = test.run_args(&[
        "--inventory",
        "inventory.yaml",
        "--limit",
        "web2",
        "plan",
        "fleet-rotation",
    ]);
    limited.expect_code(0);
    assert!(limited.stdout.contains("write@web2") && !limited.stdout.contains("write@web1"));
}

#[test]
fn a_verify_failure_on_one_host_rolls_every_host_back_byte_for_byte() {
    let Some(hosts) = servers(3) else { return };
    std::fs::write(hosts[1].path("broken"), "").unwrap();
    let run = project(&hosts, ROTATION)
        .args(&["--inventory", "inventory.yaml", "run", "fleet-rotation"])
        .run();
    run.expect_code(1);
    assert!(run.stdout.contains("check@web2"), "{}", run.stdout);
    for host in &hosts {
        assert_eq!(std::fs::read_to_string(host.path("app.env")).unwrap(), ENV);
        let restarts = std::fs::read_to_string(host.path("restarts")).unwrap_or_default();
        // A host whose services were restarted with the new value is restarted again.
        assert!(
            restarts.is_empty() || restarts == "restarted api\nrestarted api\n",
            "{restarts}"
        );
    }
}

#[test]
fn an_unknown_host_pattern_is_refused_at_its_line_before_anything_runs() {
    let Some(hosts) = servers(1) else { return };
    let runbook = ROTATION.replace("on: api", "on: apo");
    let run = project(&hosts, &runbook)
        .args(&["--inventory", "inventory.yaml", "run", "fleet-rotation"])
        .run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("`apo` names no host or group"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("fleet.yaml:3"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(hosts[0].path("app.env")).unwrap(),
        ENV
    );
}

#[test]
fn a_timeout_kills_the_remote_process_tree() {
    let Some(hosts) = servers(1) else { return };
    let runbook = r#"name: fleet-rotation
on: api
steps:
  - id: slow
    timeout: 1s
    exec: { run: 'sleep 300 & echo $! > {{ vars.svc }}/child; sleep 300' }
"#;
    let run = project(&hosts, runbook)
        .args(&["--inventory", "inventory.yaml", "run", "fleet-rotation"])
        .run();
    run.expect_code(1);
    assert!(run.stdout.contains("timed out"), "{}", run.stdout);
    let pid = std::fs::read_to_string(hosts[0].path("child")).unwrap();
    let alive = || {
        std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .is_ok_and(|stat| !stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'))
    };
    eventually("the remote grandchild is killed", || !alive());
}

#[test]
fn a_host_that_drops_mid_run_fails_its_step_and_the_others_are_rolled_back() {
    let Some(mut hosts) = servers(3) else { return };
    let runbook = ROTATION.replace(
        "  - id: write\n    needs: [new]\n",
        "  - id: pre\n    exec: { run: 'touch {{ vars.svc }}/started; while [ -e {{ vars.svc }}/hold ]; do sleep 0.05; done' }\n  - id: write\n    needs: [new, pre]\n",
    );
    std::fs::write(hosts[1].path("hold"), "").unwrap();
    let test =
        project(&hosts, &runbook).args(&["--inventory", "inventory.yaml", "run", "fleet-rotation"]);
    let child = test
        .command()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn runbook");
    let started = hosts[1].path("started");
    eventually("web2's step started", || started.exists());
    hosts[1].stop();
    let out = child.wait_with_output().expect("wait runbook");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("host `web2` is unreachable"), "{stdout}");
    for i in [0, 2] {
        assert_eq!(
            std::fs::read_to_string(hosts[i].path("app.env")).unwrap(),
            ENV
        );
    }
}
