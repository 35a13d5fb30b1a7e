//! The hosts a resumed or aborted run reaches: the `--inventory`, `--limit` and `--var` it
//! started with, every host it changed still there, and the temporary copies a kill left on
//! them.

use std::collections::BTreeSet;

use super::super::{Failure, Global};
use crate::diagnostic::Problem;
use crate::exec::recover::{Begun, Recovered};
use crate::project::Project;
use crate::steps::context::RunContext;

fn refused(message: String) -> Failure {
    Failure::Problems(vec![Problem::new("runbook::recover::state", message)])
}

/// The global flags with the inventory, limit and vars the run started with, so the operator
/// need not remember them. A different one passed now is refused: the journal's plan names
/// hosts, another inventory could put other machines behind the same names, and another var
/// could change what a step does.
pub(super) fn as_started(global: &Global, begun: &Begun, run_id: &str) -> Result<Global, Failure> {
    let mut global = global.clone();
    if let Some(recorded) = &begun.inventory {
        if let Some(given) = &global.inventory {
            let given = std::path::absolute(given).unwrap_or_else(|_| given.clone());
            if &given != recorded {
                return Err(refused(format!(
                    "run `{run_id}` started with `--inventory {}`, not `{}`; pass no `--inventory` (the run uses its own) or the same file; nothing was done",
                    recorded.display(),
                    given.display()
                )));
            }
        }
        global.inventory = Some(recorded.clone());
    }
    if let Some(recorded) = &begun.limit {
        if let Some(given) = &global.limit
            && given != recorded
        {
            return Err(refused(format!(
                "run `{run_id}` started with `--limit {recorded}`, not `{given}`; pass no `--limit` (the run uses its own) or the same pattern; nothing was done"
            )));
        }
        global.limit = Some(recorded.clone());
    }
    if let Some(recorded) = &begun.vars {
        if !global.vars.is_empty() && &global.vars != recorded {
            return Err(refused(format!(
                "run `{run_id}` started with {}; pass no `--var` (the run uses its own) or the same ones in the same order; nothing was done",
                described_vars(recorded)
            )));
        }
        global.vars = recorded.clone();
    }
    Ok(global)
}

/// The `--var` flags a run started with, by name only: what a var holds stays out of messages.
fn described_vars(vars: &[(String, String)]) -> String {
    if vars.is_empty() {
        return "no `--var`".to_string();
    }
    let names: Vec<String> = vars.iter().map(|(k, _)| format!("`--var {k}=…`")).collect();
    names.join(", ")
}

/// Refuses to go on when a host the run acted on is gone from the inventory: its changes
/// could be neither finished nor undone, and the plan's check would only say "changed".
pub(super) fn check_touched_hosts(
    project: &Project,
    recovered: &Recovered,
    run_id: &str,
) -> Result<(), Failure> {
    let acted = recovered
        .completed
        .iter()
        .map(|c| c.node)
        .chain(recovered.in_doubt.iter().copied())
        .chain(recovered.backups.keys().copied());
    let touched: BTreeSet<&str> = acted
        .filter_map(|node| recovered.begun.nodes.get(node.get()))
        .filter_map(|name| name.rsplit_once('@').map(|(_, host)| host))
        .collect();
    let known: BTreeSet<String> = project
        .inventory
        .select("all")
        .unwrap_or_default()
        .into_iter()
        .collect();
    let missing: Vec<&str> = touched
        .into_iter()
        .filter(|host| !known.contains(*host))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let source = match &recovered.begun.inventory {
        Some(path) => format!("the inventory ({} and the config)", path.display()),
        None => "the config's hosts".to_string(),
    };
    let list = missing
        .iter()
        .map(|h| format!("`{h}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(refused(format!(
        "run `{run_id}` changed host{} {list}, which {source} no longer names; put {} back to resume or abort the run; nothing was done",
        if missing.len() == 1 { "" } else { "s" },
        if missing.len() == 1 { "it" } else { "them" },
    )))
}

/// Removes the temporary copies that a kill in the middle of an edit left beside the files the
/// run edits, on the host of each edit. Every edit journals its file (the backup record)
/// before writing, so the journal names every place. A host that cannot be reached is said,
/// not fatal: the rollback or the resumed step reaching it says what matters.
pub(super) async fn remove_temp_leftovers(ctx: &RunContext, recovered: &Recovered) {
    let places: BTreeSet<(Option<&str>, &std::path::Path)> = recovered
        .backups
        .iter()
        .map(|(node, (path, ..))| (ctx.plan.node(*node).host.as_deref(), path.as_path()))
        .collect();
    for (host, path) in places {
        let on = host.map(|h| format!(" on {h}")).unwrap_or_default();
        match ctx.host_of(host).remove_leftovers(path).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                "removed {n} temporary cop{} of {}{on} left by an interrupted edit",
                if n == 1 { "y" } else { "ies" },
                path.display()
            ),
            Err(e) => tracing::warn!(
                "could not remove temporary copies of {}{on}: {e}",
                path.display()
            ),
        }
    }
}
