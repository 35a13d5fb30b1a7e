//! `on:` patterns: each must name hosts or groups of the inventory (the config's `hosts:`
//! and `groups:`, and `--inventory`), so a typo is reported at its line before any run; and
//! the batches `serial` and `max_fail` make of those hosts.

use crate::diagnostic::Problem;
use crate::load::Loaded;
use crate::model::{Runbook, Share};
use crate::project::Project;

pub(super) fn check_hosts(project: &Project, loaded: &Loaded<Runbook>) -> Vec<Problem> {
    let runbook = &loaded.value;
    let patterns = runbook
        .on
        .iter()
        .chain(runbook.steps.iter().filter_map(|s| s.on.as_deref()));
    let mut problems = Vec::new();
    for pattern in patterns {
        if let Err(message) = project.inventory.select(&pattern.value) {
            let help = if project.inventory.is_empty() {
                "define hosts under `hosts:` in runbook.yaml, or pass an Ansible inventory with `--inventory FILE`"
            } else {
                "name hosts or groups of the inventory; `all` is every host"
            };
            problems.push(
                Problem::new(
                    "runbook::check::on",
                    format!("`on: {}`: {message}", pattern.value),
                )
                .in_file(&loaded.source)
                .label_at(&pattern.referenced, "no such host or group")
                .help(help),
            );
        }
    }
    problems
}

/// `serial` and `max_fail`: each a number of hosts or a percentage, on a runbook that runs
/// on hosts; a batch of no host would never start.
pub(super) fn check_rolling(loaded: &Loaded<Runbook>) -> Vec<Problem> {
    let runbook = &loaded.value;
    let mut problems = Vec::new();
    for (key, value) in [("serial", &runbook.serial), ("max_fail", &runbook.max_fail)] {
        let Some(value) = value else { continue };
        let problem = |message: String, label: &str| {
            Problem::new("runbook::check::serial", message)
                .in_file(&loaded.source)
                .label_at(&value.referenced, label)
        };
        match value.value.parse() {
            Err(message) => problems.push(
                problem(format!("`{key}`: {message}"), "not a count or a percentage")
                    .help("write a number of hosts (`2`) or a percentage of them (`\"25%\"`)"),
            ),
            Ok(Share::Count(0) | Share::Percent(0)) if key == "serial" => problems.push(
                problem(
                    format!("`serial: {}` puts no host in a batch", value.value.text),
                    "no host",
                )
                .help("a batch needs at least one host: `serial: 1` runs hosts one at a time"),
            ),
            Ok(_) if runbook.on.is_none() => problems.push(
                problem(
                    format!("`{key}` needs the runbook's `on:`"),
                    "no hosts to count",
                )
                .help("name the hosts with `on:` (a host, a group or a pattern)"),
            ),
            Ok(_) => {}
        }
    }
    problems
}
