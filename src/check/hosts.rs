//! `on:` patterns: each must name hosts or groups of the inventory (the config's `hosts:`
//! and `groups:`, and `--inventory`), so a typo is reported at its line before any run.

use crate::diagnostic::Problem;
use crate::load::Loaded;
use crate::model::Runbook;
use crate::project::Project;

pub(super) fn check_hosts(project: &Project, loaded: &Loaded<Runbook>) -> Vec<Problem> {
    let runbook = &loaded.value;
    let patterns = runbook
        .on
        .iter()
        .chain(runbook.steps.iter().filter_map(|s| s.on.as_ref()));
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
