//! Showing a plan: text for people, JSON for tools, DOT and Mermaid for pictures. A plan
//! shows templates, file names and what is public, never a secret value: it knows only which
//! of a secret's variables are set, their values masked unless the secret declares them public.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::checked::{Library, StepKind};
use crate::checked::{RunbookIx, StepIx};
use crate::model::Phase;
use crate::plan::{Plan, Work};
use crate::project::Project;
use crate::template::environment;

use super::plan_describe::Describer;

pub(crate) use super::plan_text::{text, write_json, write_text};

/// One node of the plan as shown.
// Names are borrowed from the plan and the library: copied, they were a third of the view of
// a 100,000-step plan.
#[derive(Serialize)]
pub(crate) struct NodeView<'a> {
    pub index: usize,
    pub name: &'a str,
    pub kind: &'static str,
    pub runbook: Option<&'a str>,
    /// The inventory host it runs on; absent for the machine `runbook` runs on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub change: String,
    pub rollback: String,
    pub needs: Vec<&'a str>,
    /// For coalesced restarts: the restart steps this node serves.
    pub serves: Vec<String>,
    pub irreversible: bool,
    pub when: Option<String>,
    /// A dry run found its `when` false already: it will not run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
    /// The runbook author's explanation of the step.
    pub description: Option<String>,
    /// `activate` or `retire`, in a plan that has a retire phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<&'static str>,
}

#[derive(Serialize)]
pub(crate) struct SecretView {
    pub id: String,
    pub runbook: String,
    pub env: Vec<String>,
    pub impact: String,
}

#[derive(Serialize)]
pub(crate) struct PlanView<'a> {
    pub runbook: String,
    pub mode: &'static str,
    pub secret: Option<String>,
    pub secrets: Vec<SecretView>,
    pub steps: Vec<NodeView<'a>>,
    pub point_of_no_return: Option<String>,
    pub notes: Vec<String>,
    /// When the retire phase runs, in a plan that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retire: Option<RetireView>,
}

/// When a plan's retire phase runs: after an overlap (`runbook retire`), or in the same run.
#[derive(Serialize)]
pub(crate) struct RetireView {
    /// The overlap the run waits before retiring (`7d`); none in incident mode.
    pub overlap: Option<String>,
    /// In words, for the text view.
    pub when: String,
}

/// What is known beyond the runbooks: in a dry run, from preflight, which steps may run and
/// the current values of the secrets (its output is redacted); in a plan, only which owned
/// variables are set, with their values masked unless public.
pub(crate) struct Known<'a> {
    pub active: Option<&'a BTreeSet<(RunbookIx, StepIx)>>,
    pub currents: &'a HashMap<RunbookIx, BTreeMap<String, String>>,
}

/// `given` are the `--input` values on the command line; only those the runbook declares not
/// secret are shown.
pub(crate) fn view<'a>(
    project: &'a Project,
    library: &'a Library,
    plan: &'a Plan,
    given: &BTreeMap<String, String>,
) -> PlanView<'a> {
    let currents = masked_currents(project, library, plan);
    let known = Known {
        active: None,
        currents: &currents,
    };
    view_known(project, library, plan, given, Some(&known))
}

/// Which variables each secret of the plan has set in its env file, the value masked unless
/// the secret declares it public: enough for a `when` or a text that asks whether a
/// credential is set (the e-mail provider), never a secret. An unreadable file adds nothing.
fn masked_currents(
    project: &Project,
    library: &Library,
    plan: &Plan,
) -> HashMap<RunbookIx, BTreeMap<String, String>> {
    let mut currents = HashMap::new();
    for &rb in &plan.runbooks {
        let runbook = library.runbook(rb);
        let Some(secret) = &runbook.secret else {
            continue;
        };
        let Ok(path) = runbook.secret_file(project) else {
            continue;
        };
        let Some(file) = std::fs::read(path)
            .ok()
            .and_then(|bytes| crate::envfile::EnvFile::parse_owned(bytes).ok())
        else {
            continue;
        };
        let values = secret
            .env
            .iter()
            .filter_map(|name| {
                let value = file.get(&name.value)?;
                let shown = if value.is_empty() || secret.public.contains(&name.value) {
                    value
                } else {
                    crate::redact::MASK.to_string()
                };
                Some((name.value.clone(), shown))
            })
            .collect();
        currents.insert(rb, values);
    }
    currents
}

/// [`view`] with what a dry run knows: steps that will not run say so, and templates that read
/// the secret's current values are rendered.
pub(crate) fn view_known<'a>(
    project: &'a Project,
    library: &'a Library,
    plan: &'a Plan,
    given: &BTreeMap<String, String>,
    known: Option<&Known<'_>>,
) -> PlanView<'a> {
    let retire = retire_view(library, plan);
    let env = environment();
    let describe = Describer {
        project,
        library,
        env: &env,
        host: None,
        given,
        known,
        mode: plan.mode.as_str(),
    };
    let steps: Vec<NodeView> = plan
        .nodes
        .iter()
        .enumerate()
        .map(|(index, node)| {
            let describe = Describer {
                host: node.host.as_deref(),
                ..describe
            };
            let view = match &node.work {
                Work::Step(rb, si) => step_view(library, &describe, *rb, *si),
                Work::Restart { services, serves } => {
                    restart_view(library, &describe, services, serves)
                }
            };
            NodeView {
                index: index + 1,
                name: &node.name,
                host: node.host.clone(),
                needs: node
                    .needs
                    .iter()
                    .map(|n| plan.node(*n).name.as_str())
                    .collect(),
                phase: retire.as_ref().map(|_| shown_phase(library, plan, node)),
                ..view
            }
        })
        .collect();
    let point_of_no_return = steps
        .iter()
        .find(|s| s.irreversible)
        .map(|s| s.name.to_string());
    let root = library.runbook(plan.root);
    PlanView {
        runbook: root.name.value.clone(),
        mode: plan.mode.as_str(),
        secret: plan.target.clone(),
        secrets: plan
            .runbooks
            .iter()
            .filter_map(|rb| {
                let runbook = library.runbook(*rb);
                runbook.secret.as_ref().map(|s| SecretView {
                    id: s.id.value.clone(),
                    runbook: runbook.name.value.clone(),
                    env: s.env.iter().map(|e| e.value.clone()).collect(),
                    impact: s.impact.clone(),
                })
            })
            .collect(),
        steps,
        point_of_no_return,
        notes: plan.notes.clone(),
        retire,
    }
}

/// A node's phase as shown: in a run with an overlap, the one it runs in (a step after a
/// retire step runs in the retire phase too); in an incident run, which has one phase, only
/// what its runbook declares.
fn shown_phase(library: &Library, plan: &Plan, node: &crate::plan::PlanNode) -> &'static str {
    let declared = node
        .steps()
        .iter()
        .map(|(rb, si)| library.runbook(*rb).step(*si).phase())
        .max()
        .unwrap_or_default();
    if plan.has_overlap() {
        node.phase.as_str()
    } else {
        declared.as_str()
    }
}

/// When the plan's retire steps run, if it has any.
fn retire_view(library: &Library, plan: &Plan) -> Option<RetireView> {
    if !plan.nodes.iter().any(|n| n.phase == Phase::Retire) {
        return None;
    }
    let secrets: Vec<&str> = plan.secrets(library);
    Some(match &plan.overlap {
        Some(overlap) => RetireView {
            overlap: Some(overlap.to_string()),
            when: format!(
                "the run ends after the activate phase, waiting for retire: the old value keeps verifying for {overlap}, then `runbook retire {}` runs the retire phase (`--now` to run it earlier)",
                secrets.first().copied().unwrap_or("SECRET")
            ),
        },
        // A routine run without an overlap: its retire steps are skipped in every run with
        // its vars (a mode of the runbook that keeps no old value), so it has no retire phase.
        None if plan.mode == crate::model::Mode::Routine => return None,
        None => RetireView {
            overlap: None,
            when: "in this run, right after the activate phase: incident mode never overlaps, so the old value stops verifying before the run ends".into(),
        },
    })
}

/// Whether a step will not run: a dry run knows which are active, and a `when` may already
/// be decided false by what is known before the run.
fn skipped(describe: &Describer<'_>, rb: RunbookIx, si: StepIx) -> bool {
    let runbook = describe.library.runbook(rb);
    describe
        .known
        .and_then(|k| k.active)
        .is_some_and(|a| !a.contains(&(rb, si)))
        || describe.decided_false(rb, runbook, runbook.step(si))
}

/// The view of one step's node; the caller fills in its place in the plan.
fn step_view<'a>(
    library: &'a Library,
    describe: &Describer<'_>,
    rb: RunbookIx,
    si: StepIx,
) -> NodeView<'a> {
    let runbook = library.runbook(rb);
    let step = runbook.step(si);
    let skipped = skipped(describe, rb, si);
    let (change, rollback) = if skipped {
        (
            "skipped: its `when` is false for this run".into(),
            "none needed".into(),
        )
    } else {
        describe.step(rb, runbook, step)
    };
    NodeView {
        index: 0,
        name: "",
        kind: step.kind.name(),
        runbook: Some(&runbook.name.value),
        host: None,
        change,
        rollback,
        needs: Vec::new(),
        serves: Vec::new(),
        irreversible: step.irreversible && !skipped,
        when: step.when.as_ref().map(|w| w.value.clone()),
        skipped,
        description: step.description.clone(),
        phase: None,
    }
}

/// The view of a (possibly coalesced) restart node; the caller fills in its place.
fn restart_view<'a>(
    library: &'a Library,
    describe: &Describer<'_>,
    services: &[String],
    serves: &[(RunbookIx, StepIx)],
) -> NodeView<'a> {
    // Only the services of restart steps that will run, as the run does.
    let serves: Vec<(RunbookIx, StepIx)> = serves
        .iter()
        .copied()
        .filter(|(rb, si)| !skipped(describe, *rb, *si))
        .collect();
    let wanted: Vec<String> = serves
        .iter()
        .flat_map(|(rb, si)| {
            let runbook = library.runbook(*rb);
            match &runbook.step(*si).kind {
                StepKind::Restart(own) => {
                    crate::plan::restart_services(describe.project, runbook, own, describe.host)
                }
                _ => Vec::new(),
            }
        })
        .collect();
    let services: Vec<&str> = services
        .iter()
        .filter(|s| wanted.contains(s))
        .map(String::as_str)
        .collect();
    if serves.is_empty() {
        return NodeView {
            change: "skipped: its `when` is false for this run".into(),
            rollback: "none needed".into(),
            skipped: true,
            ..restart_node(Vec::new(), None, String::new())
        };
    }
    let names: Vec<String> = serves
        .iter()
        .map(|(rb, si)| crate::plan::step_name(library.runbook(*rb), *si))
        .collect();
    let mut runbooks: Vec<&str> = serves
        .iter()
        .map(|(rb, _)| library.runbook(*rb).name.value.as_str())
        .collect();
    runbooks.dedup();
    restart_node(
        names,
        (runbooks.len() == 1).then(|| runbooks[0]),
        format!(
            "restart {} — for {}",
            services.join(", "),
            runbooks.join(", ")
        ),
    )
}

/// A restart node's view; the caller fills in its place in the plan.
fn restart_node(serves: Vec<String>, runbook: Option<&str>, change: String) -> NodeView<'_> {
    NodeView {
        index: 0,
        name: "",
        kind: "restart",
        runbook,
        host: None,
        change,
        rollback: "restarted again once the files it reads are restored".into(),
        needs: Vec::new(),
        serves,
        irreversible: false,
        when: None,
        skipped: false,
        description: None,
        phase: None,
    }
}
