//! Restart coalescing: every restart of the same service in one run becomes one node, after
//! all that preceded any of the merged restarts and before all that followed them — unless
//! merging would create a cycle, in which case the restarts stay separate and a note says why.

use petgraph::Direction;
use petgraph::algo::has_path_connecting;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};

use crate::checked::{RunbookIx, StepIx};
use crate::model::Phase;

/// A node of the planner's graph. Edges point from a step to the steps that need it.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    /// Creation order: runbook order, then step order. Ties in scheduling break on it.
    pub ordinal: usize,
    pub work: Work,
    /// The phase its step declares. Restarts coalesce only within a phase: the retire
    /// phase's restart must come after the activate phase's, never merge with it.
    pub phase: Phase,
    /// The inventory host it runs on; `None` for the machine `runbook` runs on.
    pub host: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum Work {
    /// A step of a runbook.
    Step(RunbookIx, StepIx),
    /// Restarts of `services` serving the listed restart steps.
    Restart {
        services: Vec<String>,
        serves: Vec<(RunbookIx, StepIx)>,
    },
}

pub(crate) type PlanGraph = StableDiGraph<Unit, ()>;

/// Coalesces the restart nodes of `graph` in place and returns notes for the plan.
/// `label` names a step for those notes.
pub(crate) fn coalesce_restarts(
    graph: &mut PlanGraph,
    label: &dyn Fn(RunbookIx, StepIx) -> String,
) -> Vec<String> {
    split_per_service(graph);
    let mut notes = Vec::new();
    // A service is restarted per host: restarts on two hosts never merge.
    let mut services: Vec<(Option<String>, String)> = Vec::new();
    for node in ordered(graph) {
        let host = &graph[node].host;
        if let Work::Restart { services: s, .. } = &graph[node].work
            && !services.iter().any(|(h, name)| h == host && name == &s[0])
        {
            services.push((host.clone(), s[0].clone()));
        }
    }
    for (host, service) in services {
        let units: Vec<NodeIndex> = ordered(graph)
            .into_iter()
            .filter(|n| graph[*n].host == host)
            .filter(|n| matches!(&graph[*n].work, Work::Restart { services, .. } if services[0] == service))
            .collect();
        let mut groups: Vec<NodeIndex> = Vec::new();
        for unit in units {
            let phase = graph[unit].phase;
            let same_phase: Vec<NodeIndex> = groups
                .iter()
                .copied()
                .filter(|g| graph[*g].phase == phase)
                .collect();
            let target = same_phase.iter().copied().find(|g| {
                !has_path_connecting(&*graph, *g, unit, None)
                    && !has_path_connecting(&*graph, unit, *g, None)
            });
            match target {
                Some(group) => merge_into(graph, unit, group),
                None => {
                    if let Some(first) = same_phase.first() {
                        notes.push(format!(
                            "restart `{service}` for {} stays separate from the one for {}: merging them would create a cycle (one must finish before the other starts)",
                            serves_label(graph, unit, label),
                            serves_label(graph, *first, label),
                        ));
                    }
                    groups.push(unit);
                }
            }
        }
    }
    merge_across_services(graph);
    notes
}

fn serves_label(
    graph: &PlanGraph,
    node: NodeIndex,
    label: &dyn Fn(RunbookIx, StepIx) -> String,
) -> String {
    match &graph[node].work {
        Work::Restart { serves, .. } => serves
            .iter()
            .map(|(r, s)| label(*r, *s))
            .collect::<Vec<_>>()
            .join(", "),
        Work::Step(r, s) => label(*r, *s),
    }
}

/// Nodes sorted by ordinal, for deterministic iteration.
pub(super) fn ordered(graph: &PlanGraph) -> Vec<NodeIndex> {
    let mut nodes: Vec<NodeIndex> = graph.node_indices().collect();
    nodes.sort_by_key(|n| graph[*n].ordinal);
    nodes
}

fn neighbours(graph: &PlanGraph, node: NodeIndex, direction: Direction) -> Vec<NodeIndex> {
    let mut list: Vec<NodeIndex> = graph.neighbors_directed(node, direction).collect();
    list.sort();
    list.dedup();
    list
}

/// A restart of several services becomes one unit per service, each with the same edges.
fn split_per_service(graph: &mut PlanGraph) {
    for node in ordered(graph) {
        let Work::Restart {
            mut services,
            serves,
        } = graph[node].work.clone()
        else {
            continue;
        };
        let mut seen = std::collections::HashSet::new();
        services.retain(|s| seen.insert(s.clone()));
        if services.len() < 2 {
            continue;
        }
        let incoming = neighbours(graph, node, Direction::Incoming);
        let outgoing = neighbours(graph, node, Direction::Outgoing);
        let ordinal = graph[node].ordinal;
        let host = graph[node].host.clone();
        graph[node].work = Work::Restart {
            services: vec![services[0].clone()],
            serves: serves.clone(),
        };
        for service in services.iter().skip(1) {
            let phase = graph[node].phase;
            let unit = graph.add_node(Unit {
                ordinal,
                phase,
                work: Work::Restart {
                    services: vec![service.clone()],
                    serves: serves.clone(),
                },
                host: host.clone(),
            });
            for p in &incoming {
                graph.add_edge(*p, unit, ());
            }
            for s in &outgoing {
                graph.add_edge(unit, *s, ());
            }
        }
    }
}

/// Moves `unit`'s edges and served steps onto `group` and removes `unit`.
fn merge_into(graph: &mut PlanGraph, unit: NodeIndex, group: NodeIndex) {
    for p in neighbours(graph, unit, Direction::Incoming) {
        if !graph.contains_edge(p, group) {
            graph.add_edge(p, group, ());
        }
    }
    for s in neighbours(graph, unit, Direction::Outgoing) {
        if !graph.contains_edge(group, s) {
            graph.add_edge(group, s, ());
        }
    }
    let removed = graph
        .remove_node(unit)
        .expect("merged unit exists; this is a bug");
    let ordinal = removed.ordinal;
    if let (Work::Restart { serves: extra, .. }, Work::Restart { serves, .. }) =
        (removed.work, &mut graph[group].work)
    {
        for s in extra {
            if !serves.contains(&s) {
                serves.push(s);
            }
        }
        serves.sort_unstable();
    }
    graph[group].ordinal = graph[group].ordinal.min(ordinal);
}

/// Restarts of different services become one driver call (`docker compose up ... api
/// worker`) wherever neither must finish before the other starts: each restart costs users a
/// blip, and one recreate of several services costs one. Merging two nodes with no path
/// between them cannot create a cycle.
fn merge_across_services(graph: &mut PlanGraph) {
    let restarts: Vec<NodeIndex> = ordered(graph)
        .into_iter()
        .filter(|n| matches!(graph[*n].work, Work::Restart { .. }))
        .collect();
    let mut groups: Vec<NodeIndex> = Vec::new();
    for unit in restarts {
        let target = groups.iter().copied().find(|g| {
            graph[*g].phase == graph[unit].phase
                && graph[*g].host == graph[unit].host
                && !has_path_connecting(&*graph, *g, unit, None)
                && !has_path_connecting(&*graph, unit, *g, None)
        });
        match target {
            Some(group) => {
                let Work::Restart { services, .. } = graph[unit].work.clone() else {
                    continue;
                };
                merge_into(graph, unit, group);
                if let Work::Restart { services: into, .. } = &mut graph[group].work {
                    for service in services {
                        if !into.contains(&service) {
                            into.push(service);
                        }
                    }
                }
            }
            None => groups.push(unit),
        }
    }
}
