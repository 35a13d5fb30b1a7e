//! The planner: one petgraph DAG across every runbook of a run, `rotate` expanded over the
//! `implies` closure, restarts coalesced, in a deterministic order. Pure: it reads the loaded
//! library and performs no I/O, so the plan shown is exactly the plan executed.

mod closure;
mod coalesce;
mod order;
mod target;

use std::collections::{BTreeMap, HashMap};

use petgraph::stable_graph::NodeIndex;

use crate::diagnostic::Problem;
use crate::model::{KindRef, Mode, Runbook};
use crate::project::{Library, Project};

pub(crate) use closure::{first_conflict, implied_closure};
pub(crate) use coalesce::{PlanGraph, Unit, Work, coalesce_restarts};
use order::topological;
use target::{
    conflicts_of, implies_of, missing_secret, render_target, resolve_target, unknown_secret,
};

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
    /// Library index of the requested runbook.
    pub root: usize,
    pub mode: Mode,
    /// The secret `--secret` resolved to.
    pub target: Option<String>,
    /// Library indices of the rotation runbooks this run includes, root first.
    pub runbooks: Vec<usize>,
    /// In execution order: every node's `needs` come before it.
    pub nodes: Vec<PlanNode>,
    pub notes: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct PlanNode {
    /// `runbook/step`, or `restart:svc[,svc]` for a coalesced restart.
    pub name: String,
    pub work: Work,
    /// Indices into `Plan::nodes`.
    pub needs: Vec<usize>,
}

impl PlanNode {
    /// The runbook steps this node carries out: one, or every restart it coalesces.
    pub(crate) fn steps(&self) -> Vec<(usize, usize)> {
        match &self.work {
            Work::Step(rb, si) => vec![(*rb, *si)],
            Work::Restart { serves, .. } => serves.clone(),
        }
    }
}

impl Plan {
    /// Whether every step of a rotation runbook is among `done` (plan node indices).
    pub(crate) fn runbook_complete(
        &self,
        rb: usize,
        steps: usize,
        done: &std::collections::BTreeSet<usize>,
    ) -> bool {
        let covered: std::collections::BTreeSet<usize> = done
            .iter()
            .flat_map(|n| self.nodes[*n].steps())
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
                library.runbooks[*r]
                    .value
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
    let Some(root) = library
        .runbooks
        .iter()
        .position(|r| r.value.name.value == request.runbook)
    else {
        let names: Vec<&str> = library
            .runbooks
            .iter()
            .map(|r| r.value.name.value.as_str())
            .collect();
        let mut p = problem(format!("no runbook is named `{}`", request.runbook));
        p = match crate::diagnostic::did_you_mean(&request.runbook, names.iter().copied()) {
            Some(s) => p.help(format!("did you mean `{s}`?")),
            None => p.help(format!("runbooks: {}", names.join(", "))),
        };
        return Err(p);
    };
    let root_runbook = &library.runbooks[root].value;
    let target = resolve_target(library, root_runbook, request)?;
    // (implying runbook, implied runbook): the second starts once the first's edits are done.
    let mut implied_after: Vec<(usize, usize)> = Vec::new();
    // Which rotation runbooks each `rotate` step expands into.
    let mut expansions: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut included: Vec<usize> = Vec::new();
    if root_runbook.secret.is_some() {
        included.push(root);
    }
    for (step_index, step) in root_runbook.steps.iter().enumerate() {
        let Some(rotate) = &step.rotate else { continue };
        let secret = match &rotate.secret {
            Some(s) => render_target(project, root_runbook, request, &s.value)?,
            None => target
                .clone()
                .ok_or_else(|| missing_secret(library, &request.runbook))?,
        };
        let owner = library
            .secret_owner(&secret)
            .ok_or_else(|| unknown_secret(library, &secret))?;
        let start = owner
            .value
            .secret
            .as_ref()
            .map(|s| s.id.value.clone())
            .unwrap_or_default();
        let secrets = if rotate.implied {
            implied_closure(&start, |id| implies_of(library, id))
        } else {
            vec![start]
        };
        if let Some((a, b)) = first_conflict(&secrets, |id| conflicts_of(library, id)) {
            return Err(Problem::new(
                "runbook::plan::conflict",
                format!("secrets `{a}` and `{b}` must never rotate in the same run, but this plan would rotate both ({})", secrets.join(", ")),
            )
            .help(format!("rotate them in two runs: first `--secret {a}`, then `--secret {b}` in a separate run")));
        }
        let owner_of = |secret: &str| {
            library.runbooks.iter().position(|r| {
                r.value
                    .secret
                    .as_ref()
                    .is_some_and(|s| s.id.value == secret)
            })
        };
        // Each implied secret rotates after the first secret of the closure that implies it.
        for (i, secret) in secrets.iter().enumerate().skip(1) {
            let parent = secrets[..i]
                .iter()
                .find(|p| implies_of(library, p).contains(secret));
            if let (Some(parent), Some(child)) =
                (parent.and_then(|p| owner_of(p)), owner_of(secret))
            {
                implied_after.push((parent, child));
            }
        }
        let mut expanded = Vec::new();
        for secret in &secrets {
            let index = library
                .runbooks
                .iter()
                .position(|r| {
                    r.value
                        .secret
                        .as_ref()
                        .is_some_and(|s| &s.id.value == secret)
                })
                .expect("closure secrets have owners; this is a bug");
            if !included.contains(&index) {
                included.push(index);
                expanded.push(index);
            }
        }
        expansions.insert(step_index, expanded);
    }
    let mut graph = PlanGraph::default();
    let mut ordinal = 0;
    // Node of each (runbook, step); a rotate step maps to the exits of its expansion.
    let mut node_of: HashMap<(usize, usize), NodeIndex> = HashMap::new();
    let mut order_of_runbooks = vec![root];
    order_of_runbooks.extend(included.iter().copied().filter(|r| *r != root));
    for &rb in &order_of_runbooks {
        for (si, step) in library.runbooks[rb].value.steps.iter().enumerate() {
            if step.rotate.is_some() {
                continue;
            }
            let work = match step.kind() {
                KindRef::Restart(services) => Work::Restart {
                    services: restart_services(project, &library.runbooks[rb].value, services),
                    serves: vec![(rb, si)],
                },
                _ => Work::Step(rb, si),
            };
            node_of.insert((rb, si), graph.add_node(Unit { ordinal, work }));
            ordinal += 1;
        }
    }
    // Entry and exit nodes of a step: itself, or for `rotate` the roots and sinks of the
    // runbooks it expands into.
    // The first and last steps of each expanded runbook, computed once: a rotate step's
    // entries are those roots, its exits those sinks.
    let mut roots: HashMap<usize, Vec<NodeIndex>> = HashMap::new();
    let mut sinks: HashMap<usize, Vec<NodeIndex>> = HashMap::new();
    for &e in expansions.values().flatten() {
        let steps = &library.runbooks[e].value.steps;
        let needed: std::collections::HashSet<&str> = steps
            .iter()
            .flat_map(|s| s.needs.iter().map(|n| n.value.as_str()))
            .collect();
        for (i, s) in steps.iter().enumerate() {
            let Some(&node) = node_of.get(&(e, i)) else {
                continue;
            };
            if s.needs.is_empty() {
                roots.entry(e).or_default().push(node);
            }
            if !needed.contains(s.id.value.as_str()) {
                sinks.entry(e).or_default().push(node);
            }
        }
    }
    let ends = |rb: usize, si: usize, entry: bool| -> Vec<NodeIndex> {
        if let Some(node) = node_of.get(&(rb, si)) {
            return vec![*node];
        }
        let Some(expanded) = expansions.get(&si).filter(|_| rb == root) else {
            return Vec::new();
        };
        let table = if entry { &roots } else { &sinks };
        expanded
            .iter()
            .flat_map(|e| table.get(e).into_iter().flatten().copied())
            .collect()
    };
    let mut edges = Vec::new();
    for &rb in &order_of_runbooks {
        let steps = &library.runbooks[rb].value.steps;
        let index: HashMap<&str, usize> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.value.as_str(), i))
            .collect();
        for (si, step) in steps.iter().enumerate() {
            for need in &step.needs {
                let Some(&ni) = index.get(need.value.as_str()) else {
                    continue;
                };
                for from in ends(rb, ni, false) {
                    for to in ends(rb, si, true) {
                        edges.push((from, to));
                    }
                }
            }
        }
    }
    // An implied rotation starts after the implying one has made its change (the steps before
    // its restarts): rotating APP_ENCRYPTION_KEY must not race `ALTER USER` for the database,
    // and the services are still restarted once, after both.
    for &(parent, child) in &implied_after {
        let before_restart = steps_before_restart(&library.runbooks[parent].value);
        let child_steps = &library.runbooks[child].value.steps;
        for from in before_restart
            .iter()
            .filter_map(|si| node_of.get(&(parent, *si)))
        {
            for (ci, step) in child_steps.iter().enumerate() {
                if step.needs.is_empty()
                    && let Some(to) = node_of.get(&(child, ci))
                {
                    edges.push((*from, *to));
                }
            }
        }
    }
    for (from, to) in edges {
        if !graph.contains_edge(from, to) {
            graph.add_edge(from, to, ());
        }
    }
    let label = |rb: usize, si: usize| step_name(&library.runbooks[rb].value, si);
    let notes = coalesce_restarts(&mut graph, &label);
    let mut nodes = topological(&graph, &label)?;
    for node in &mut nodes {
        // A restart that serves one step but not all of its services was split off by
        // coalescing; naming it after the step would suggest it restarts them all.
        if let Work::Restart { services, serves } = &node.work
            && let [(rb, si)] = serves.as_slice()
            && library.runbooks[*rb].value.steps[*si].restart.as_deref()
                != Some(services.as_slice())
        {
            node.name = format!("restart:{}", services.join(","));
        }
    }
    Ok(Plan {
        root,
        mode: root_runbook.mode,
        target,
        runbooks: order_of_runbooks
            .into_iter()
            .filter(|r| library.runbooks[*r].value.secret.is_some())
            .collect(),
        nodes,
        notes,
    })
}

/// The last steps of a runbook that are neither restarts nor after one: where its change
/// is complete, before it is put live.
fn steps_before_restart(runbook: &Runbook) -> Vec<usize> {
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
            let follows = step.restart.is_some()
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
        .collect()
}

/// Service names may come from vars (`{{ vars.metrics_service }}`); coalescing needs them
/// known at plan time, so they render against vars only.
pub(crate) fn restart_services(
    project: &Project,
    runbook: &Runbook,
    services: &[String],
) -> Vec<String> {
    let env = crate::template::shared();
    let ctx = minijinja::context! { vars => project.vars_for(runbook) };
    services
        .iter()
        .map(|s| crate::template::render(env, s, &ctx).unwrap_or_else(|_| s.clone()))
        .collect()
}

pub(crate) fn step_name(runbook: &Runbook, step: usize) -> String {
    format!("{}/{}", runbook.name.value, runbook.steps[step].id.value)
}

#[cfg(test)]
mod tests;
