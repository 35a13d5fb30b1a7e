//! The planner: one petgraph DAG across every runbook of a run, `rotate` expanded over the
//! `implies` closure, restarts coalesced, in a deterministic order. Pure: it reads the loaded
//! library and performs no I/O, so the plan shown is exactly the plan executed.

mod closure;
mod coalesce;
mod edges;
mod expand;
mod order;
mod overlap;
mod rolling;
mod target;

use std::collections::BTreeMap;

use crate::fasthash::Map as HashMap;

use petgraph::stable_graph::NodeIndex;

use crate::checked::{Library, Runbook, RunbookIx, StepIx, StepKind};
use crate::diagnostic::Problem;
use crate::model::{HumanDuration, Mode, Phase};
use crate::project::Project;

pub(crate) use closure::{first_conflict, implied_closure};
pub(crate) use coalesce::{PlanGraph, Unit, Work, coalesce_restarts};
use edges::Edges;
use expand::{expand_rotations, find_root};
use order::topological;
use overlap::overlap_of;
pub(crate) use rolling::Rolling;
use target::resolve_target;
pub(crate) use target::unknown_secret;

/// What the operator asked to plan.
#[derive(Debug, Default, Clone)]
pub(crate) struct PlanRequest {
    pub runbook: String,
    /// `--secret`: an id or env name, case-insensitive.
    pub secret: Option<String>,
    /// Non-secret `--input` values (rotate targets may be templates over them).
    pub inputs: BTreeMap<String, String>,
}

#[derive(Debug)]
pub(crate) struct Plan {
    /// The requested runbook.
    pub root: RunbookIx,
    pub mode: Mode,
    /// The secret `--secret` resolved to.
    pub target: Option<String>,
    /// The rotation runbooks this run includes, root first.
    pub runbooks: Vec<RunbookIx>,
    /// In execution order: every node's `needs` come before it.
    pub nodes: Vec<PlanNode>,
    pub notes: Vec<String>,
    /// The root runbook's batches of hosts and failure budget (`serial`, `max_fail`).
    pub rolling: Option<Rolling>,
    /// A routine run with retire steps ends after the activate phase, waiting this long
    /// (the longest `overlap` of its runbooks) before `runbook retire` may run the rest. An
    /// incident run has none: it retires in the same run.
    pub overlap: Option<HumanDuration>,
}

/// A node's place in `Plan::nodes`, which is its execution order. The journal stores it as a
/// plain number (`get`), and a resumed run reads it back (`new`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct NodeIx(usize);

impl NodeIx {
    pub(crate) fn new(index: usize) -> Self {
        Self(index)
    }

    pub(crate) fn get(self) -> usize {
        self.0
    }
}

#[derive(Debug)]
pub(crate) struct PlanNode {
    /// `runbook/step`, or `restart:svc[,svc]` for a coalesced restart.
    pub name: String,
    pub work: Work,
    pub needs: Vec<NodeIx>,
    /// `retire` for a step its runbook marks so, and for anything that needs one.
    pub phase: Phase,
    /// The inventory host it runs on (its name ends `@host`); `None` for the machine
    /// `runbook` runs on.
    pub host: Option<String>,
}

impl PlanNode {
    /// The runbook steps this node carries out: one, or every restart it coalesces.
    pub(crate) fn steps(&self) -> Vec<(RunbookIx, StepIx)> {
        match &self.work {
            Work::Step(rb, si) => vec![(*rb, *si)],
            Work::Restart { serves, .. } => serves.clone(),
        }
    }
}

impl Plan {
    /// The host of each node that runs on one, by node name (for the events' `host`).
    pub(crate) fn node_hosts(&self) -> std::collections::HashMap<String, String> {
        self.nodes
            .iter()
            .filter_map(|n| Some((n.name.clone(), n.host.clone()?)))
            .collect()
    }

    pub(crate) fn node(&self, node: NodeIx) -> &PlanNode {
        &self.nodes[node.get()]
    }

    /// Every node with its index, in execution order.
    pub(crate) fn indexed_nodes(&self) -> impl Iterator<Item = (NodeIx, &PlanNode)> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (NodeIx::new(i), n))
    }

    /// The node named `name` (`runbook/step`, as events name it).
    pub(crate) fn node_named(&self, name: &str) -> Option<NodeIx> {
        self.indexed_nodes()
            .find(|(_, n)| n.name == name)
            .map(|(i, _)| i)
    }

    /// Whether the run has two phases: it ends waiting for retire after the activate phase.
    pub(crate) fn has_overlap(&self) -> bool {
        self.overlap.is_some()
    }

    /// Whether every one of the `steps` steps of runbook `rb` is among the `done` nodes.
    pub(crate) fn runbook_complete(
        &self,
        rb: RunbookIx,
        steps: usize,
        done: &std::collections::BTreeSet<NodeIx>,
    ) -> bool {
        let covered: std::collections::BTreeSet<StepIx> = done
            .iter()
            .flat_map(|n| self.node(*n).steps())
            .filter(|(r, _)| *r == rb)
            .map(|(_, s)| s)
            .collect();
        covered.len() == steps
    }

    /// The secret ids rotated by this run, in plan order.
    pub(crate) fn secrets<'a>(&self, library: &'a Library) -> Vec<&'a str> {
        self.runbooks
            .iter()
            .filter_map(|r| {
                library
                    .runbook(*r)
                    .secret
                    .as_ref()
                    .map(|s| s.id.value.as_str())
            })
            .collect()
    }
}

fn problem(message: impl Into<String>) -> Problem {
    Problem::new("runbook::plan::request", message)
}

/// Builds the plan of a run. The library must have passed `check_library`.
pub(crate) fn build(
    project: &Project,
    library: &Library,
    request: &PlanRequest,
) -> Result<Plan, Problem> {
    let root = find_root(library, request)?;
    let root_runbook = library.runbook(root);
    let target = resolve_target(library, root_runbook, request)?;
    let expansion = expand_rotations(project, library, request, root, target.as_ref())?;
    let mut order_of_runbooks = vec![root];
    order_of_runbooks.extend(expansion.included.iter().copied().filter(|r| *r != root));
    let mut graph = PlanGraph::default();
    let node_of = add_nodes(project, library, &order_of_runbooks, &mut graph);
    let host_of: HashMap<NodeIndex, Option<String>> = graph
        .node_indices()
        .map(|n| (n, graph[n].host.clone()))
        .collect();
    let edges = Edges {
        library,
        root,
        expansion: &expansion,
        node_of: &node_of,
        host_of: &host_of,
    };
    for (from, to) in edges.all(&order_of_runbooks) {
        if !graph.contains_edge(from, to) {
            graph.add_edge(from, to, ());
        }
    }
    let label = |rb: RunbookIx, si: StepIx| step_name(library.runbook(rb), si);
    let notes = coalesce_restarts(&mut graph, &label);
    let mut nodes = topological(&graph, &label)?;
    name_split_restarts(library, &mut nodes);
    let overlap = overlap_of(project, library, root_runbook.mode, &nodes);
    let rolling = rolling::rolling(project, root_runbook);
    let mut notes = notes;
    notes.extend(rolling.as_ref().map(Rolling::describe));
    Ok(Plan {
        overlap,
        root,
        rolling,
        mode: root_runbook.mode,
        target,
        runbooks: order_of_runbooks
            .into_iter()
            .filter(|r| library.runbook(*r).secret.is_some())
            .collect(),
        nodes,
        notes,
    })
}

/// One node per step of every included runbook and per host it runs on, except `rotate`
/// steps, which stand for the runbooks they expand into. Returns the nodes of each
/// (runbook, step): one for a step that runs here, one per host for a step with `on:`
/// (none when `--limit` leaves it no host).
fn add_nodes(
    project: &Project,
    library: &Library,
    order_of_runbooks: &[RunbookIx],
    graph: &mut PlanGraph,
) -> HashMap<(RunbookIx, StepIx), Vec<NodeIndex>> {
    let mut ordinal = 0;
    let mut node_of: HashMap<(RunbookIx, StepIx), Vec<NodeIndex>> = HashMap::default();
    for &rb in order_of_runbooks {
        let runbook = library.runbook(rb);
        for (si, step) in runbook.indexed_steps() {
            if matches!(step.kind, StepKind::Rotate(_)) {
                continue;
            }
            for host in step_hosts(project, runbook, si) {
                let work = match &step.kind {
                    StepKind::Restart(services) => Work::Restart {
                        services: restart_services(project, runbook, services, host.as_deref()),
                        serves: vec![(rb, si)],
                    },
                    _ => Work::Step(rb, si),
                };
                let node = graph.add_node(Unit {
                    ordinal,
                    work,
                    host,
                    phase: step.phase(),
                });
                node_of.entry((rb, si)).or_default().push(node);
                ordinal += 1;
            }
        }
    }
    node_of
}

/// Where a step runs: each host its `on:` (else its runbook's) selects, or here. A
/// runbook's `on:` leaves alone the steps that only this machine can do: a secret generated
/// once here is written to every host, and the operator and the report are here.
pub(crate) fn step_hosts(project: &Project, runbook: &Runbook, si: StepIx) -> Vec<Option<String>> {
    let step = runbook.step(si);
    let here_only = matches!(
        step.kind,
        StepKind::Generate(_) | StepKind::Manual(_) | StepKind::Report(_)
    );
    let pattern = step
        .on
        .as_deref()
        .or(runbook.on.as_ref().filter(|_| !here_only));
    match pattern {
        // The checker refused a pattern that names nothing; `--limit` may leave none.
        Some(pattern) => project
            .inventory
            .select(&pattern.value)
            .unwrap_or_default()
            .into_iter()
            .map(Some)
            .collect(),
        None => vec![None],
    }
}

/// A restart that serves one step but not all of its services was split off by
/// coalescing; naming it after the step would suggest it restarts them all.
fn name_split_restarts(library: &Library, nodes: &mut [PlanNode]) {
    for node in nodes {
        if let Work::Restart { services, serves } = &node.work
            && let [(rb, si)] = serves.as_slice()
            && !matches!(&library.runbook(*rb).step(*si).kind, StepKind::Restart(own) if own == services)
        {
            let base = order::restart_name(services, node.phase);
            node.name = match &node.host {
                Some(host) => format!("{base}@{host}"),
                None => base,
            };
        }
    }
}

/// The last steps of a runbook that are neither restarts nor after one: where its change
/// is complete, before it is put live.
fn steps_before_restart(runbook: &Runbook) -> Vec<StepIx> {
    let steps = &runbook.steps;
    let mut after = vec![false; steps.len()];
    // Steps are few; repeat until no step newly follows a restart (at most one pass per step).
    let mut changed = true;
    while changed {
        changed = false;
        for (i, step) in steps.iter().enumerate() {
            if after[i] {
                continue;
            }
            // The retire phase comes after the change is put live, like a restart.
            let follows = matches!(step.kind, StepKind::Restart(_))
                || step.phase() == Phase::Retire
                || step.needs.iter().any(|n| {
                    steps
                        .iter()
                        .position(|s| s.id.value == n.value)
                        .is_some_and(|j| after[j])
                });
            if follows {
                after[i] = true;
                changed = true;
            }
        }
    }
    let before: Vec<usize> = (0..steps.len()).filter(|i| !after[*i]).collect();
    // Only the last of them: the others come before these anyway.
    before
        .iter()
        .copied()
        .filter(|i| {
            !before.iter().any(|j| {
                steps[*j]
                    .needs
                    .iter()
                    .any(|n| n.value == steps[*i].id.value)
            })
        })
        .map(StepIx::new)
        .collect()
}

/// Service names may come from vars (`{{ vars.metrics_service }}`, a host's vars too);
/// coalescing needs them known at plan time, so they render against vars only.
pub(crate) fn restart_services(
    project: &Project,
    runbook: &Runbook,
    services: &[String],
    host: Option<&str>,
) -> Vec<String> {
    let env = crate::template::shared();
    let ctx = minijinja::context! { vars => project.vars_on(&runbook.vars, host) };
    services
        .iter()
        .map(|s| crate::template::render(env, s, &ctx).unwrap_or_else(|_| s.clone()))
        .collect()
}

pub(crate) fn step_name(runbook: &Runbook, step: StepIx) -> String {
    format!("{}/{}", runbook.name.value, runbook.step(step).id.value)
}

#[cfg(test)]
mod tests;
