//! The fleet tests' deployment: real sshd servers as hosts `web1`, `web2`, ... of group
//! `api` in an Ansible inventory, each with an env file and a service folder of its own.

use std::path::Path;
use std::time::{Duration, Instant};

use super::sshd::Sshd;
use super::{Run, Test};

pub(crate) const ENV: &str = "# app settings\nexport TOKEN=old-token-value\nOTHER='kept as is'\r\n";

/// `n` servers, or `None` when sshd is unavailable here (skipped loudly outside CI).
pub(crate) fn servers(n: usize) -> Option<Vec<Sshd>> {
    (0..n).map(|_| Sshd::start()).collect()
}

/// A project whose inventory names the servers `web1`, `web2`, ... in group `api`, each
/// with its env file and service directory under its own root, and `runbook` as given.
pub(crate) fn project(hosts: &[Sshd], runbook: &str) -> Test {
    let names: Vec<String> = (1..=hosts.len()).map(|i| format!("web{i}")).collect();
    project_named(hosts, &names, runbook)
}

/// As `project`, the servers named `names` and listed in that order.
pub(crate) fn project_named(hosts: &[Sshd], names: &[String], runbook: &str) -> Test {
    let mut inventory = String::from("all:\n  children:\n    api:\n      hosts:\n");
    for (host, name) in hosts.iter().zip(names) {
        std::fs::write(host.path("app.env"), ENV).expect("env file");
        let root = host.root.display().to_string();
        let entry = host.inventory_entry(
            name,
            &[("env_file", format!("{root}/app.env")), ("svc", root)],
        );
        for line in entry.lines() {
            inventory.push_str(&format!("    {line}\n"));
        }
    }
    Test::new()
        .file("inventory.yaml", &inventory)
        .file(
            "runbook.yaml",
            "runbooks: runbooks/\nrestart:\n  run: echo restarted {{ services | join(' ') }} >> {{ vars.svc }}/restarts\n",
        )
        .file("runbooks/fleet.yaml", runbook)
}

pub(crate) const ROTATION: &str = r#"name: fleet-rotation
secret: { id: token, env: [TOKEN], every: 90d, impact: sessions drop }
on: api
steps:
  - id: new
    generate: { bytes: 24, encoding: hex }
  - id: write
    needs: [new]
    env: { set: { TOKEN: "{{ steps.new.value }}" } }
  - id: seen
    needs: [write]
    exec:
      run: 'printf %s "$TOKEN" > {{ vars.svc }}/seen; sleep 0.3'
      env: { TOKEN: "{{ steps.new.value }}" }
  - id: restart
    needs: [seen]
    restart: [api]
  - id: check
    needs: [restart]
    verify:
      exec: { run: 'test ! -e {{ vars.svc }}/broken' }
"#;

/// `runbook --inventory inventory.yaml FLAGS... ARGS...` in the project.
pub(crate) fn with_inventory(test: &Test, flags: &[&str], args: &[&str]) -> Run {
    test.run_args(&[&["--inventory", "inventory.yaml"], flags, args].concat())
}

/// What a diagnostic says, as one text: miette wraps long lines behind a `│` margin.
pub(crate) fn one_text(stderr: &str) -> String {
    stderr
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

/// Polls (bounded) until `done` holds; no timing is asserted.
pub(crate) fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn env_value(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("env file");
    let line = text
        .lines()
        .find(|l| l.starts_with("export TOKEN="))
        .expect("TOKEN line");
    line["export TOKEN=".len()..].to_string()
}
