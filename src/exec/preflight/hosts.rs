//! The env files of inventory hosts, checked over SSH before anything changes: each file an
//! env step edits on a host exists (unless `create`) and holds the keys it sets (unless
//! `append`). Without this a missing key on host 7 of 10 would fail its step mid-run and
//! roll six hosts back.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use super::{active_nodes, problem};
use crate::checked::{Library, RunbookIx, StepIx, StepKind};
use crate::diagnostic::Problem;
use crate::envfile::EnvFile;
use crate::exec::session::Fleet;
use crate::host::Host;
use crate::plan::Plan;
use crate::project::Project;

/// One env edit on one host, as preflight sees it.
struct HostEdit {
    step: String,
    host: String,
    path: PathBuf,
    keys: Vec<String>,
    create: bool,
    append: bool,
}

/// The edits of the active env steps that run on hosts; their paths rendered with each
/// host's vars, as the step renders them (a relative path is relative to the login
/// directory there).
fn host_edits(
    project: &Project,
    library: &Library,
    plan: &Plan,
    active: &BTreeSet<(RunbookIx, StepIx)>,
) -> Vec<HostEdit> {
    let env = crate::template::shared();
    let mut edits = Vec::new();
    for (node, rb, step) in active_nodes(plan, library, active) {
        let (Some(host), StepKind::Env(spec)) = (&node.host, &step.kind) else {
            continue;
        };
        let runbook = library.runbook(rb);
        let text = spec
            .file
            .clone()
            .or_else(|| runbook.secret.as_ref().and_then(|s| s.file.clone()))
            .unwrap_or_else(|| "{{ vars.env_file }}".into());
        let ctx = minijinja::context! { vars => project.vars_on(&runbook.vars, Some(host)) };
        // A path that renders only from step outputs is checked by the step when it runs.
        let Ok(path) = crate::template::render(env, &text, &ctx) else {
            continue;
        };
        edits.push(HostEdit {
            step: node.name.clone(),
            host: host.clone(),
            path: PathBuf::from(path),
            keys: spec.set.keys().cloned().collect(),
            create: spec.create,
            append: spec.append,
        });
    }
    edits
}

/// What is wrong with one edit's file on its host, if anything.
async fn check(host: Arc<dyn Host>, edit: HostEdit) -> Vec<Problem> {
    let on = format!("`{}` on {}", edit.path.display(), edit.host);
    let bytes = match host.read_before_edit(&edit.path).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) if edit.create => return Vec::new(),
        Ok(None) => {
            return vec![problem(format!(
                "step `{}`: env file {on} does not exist (set `create: true` to create it)",
                edit.step
            ))];
        }
        Err(e) => return vec![problem(format!("step `{}`: {e}", edit.step))],
    };
    let file = match EnvFile::parse_owned(bytes) {
        Ok(file) => file,
        Err(e) => return vec![problem(format!("step `{}`: {on}: {e}", edit.step))],
    };
    edit.keys
        .iter()
        .filter(|key| !edit.append && file.get(key).is_none())
        .map(|key| {
            problem(format!(
                "step `{}`: key `{key}` is not in {on} (set `append: true` to add it)",
                edit.step
            ))
        })
        .collect()
}

/// Reads every host's env files, hosts in parallel, and says what would fail. Nothing is
/// written; the connections opened stay open for the run.
pub(super) fn check_host_files(
    project: &Project,
    library: &Library,
    plan: &Plan,
    active: &BTreeSet<(RunbookIx, StepIx)>,
    hosts: &Fleet,
) -> Vec<Problem> {
    let edits = host_edits(project, library, plan, active);
    if edits.is_empty() {
        return Vec::new();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return vec![problem(format!("cannot start the runtime: {e}"))],
    };
    runtime.block_on(async {
        let mut checks = tokio::task::JoinSet::new();
        for edit in edits {
            let Some(host) = hosts.get(&edit.host) else {
                continue;
            };
            checks.spawn(check(Arc::clone(host), edit));
        }
        let mut problems = Vec::new();
        while let Some(found) = checks.join_next().await {
            problems.extend(found.unwrap_or_default());
        }
        // The order hosts answered in is not the plan's: sort so the report is stable.
        problems.sort_by(|a, b| a.message.cmp(&b.message));
        problems
    })
}
