//! The execution order of a plan: Kahn's algorithm over the coalesced graph.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::fasthash::Map as HashMap;

use petgraph::Direction;
use petgraph::stable_graph::NodeIndex;

use super::{NodeIx, PlanGraph, PlanNode, Work};
use crate::checked::{RunbookIx, StepIx};
use crate::diagnostic::Problem;

/// Kahn's algorithm, breaking ties on creation order so a plan is always the same.
pub(super) fn topological(
    graph: &PlanGraph,
    label: &dyn Fn(RunbookIx, StepIx) -> String,
) -> Result<Vec<PlanNode>, Problem> {
    let mut indegree: HashMap<NodeIndex, usize> = graph
        .node_indices()
        .map(|n| (n, graph.neighbors_directed(n, Direction::Incoming).count()))
        .collect();
    let mut ready: BinaryHeap<Reverse<(usize, NodeIndex)>> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(n, _)| Reverse((graph[*n].ordinal, *n)))
        .collect();
    let mut position: HashMap<NodeIndex, NodeIx> = HashMap::default();
    let mut nodes: Vec<PlanNode> = Vec::with_capacity(graph.node_count());
    while let Some(Reverse((_, node))) = ready.pop() {
        let mut needs: Vec<NodeIx> = graph
            .neighbors_directed(node, Direction::Incoming)
            .map(|p| position[&p])
            .collect();
        needs.sort_unstable();
        needs.dedup();
        position.insert(node, NodeIx::new(nodes.len()));
        let work = graph[node].work.clone();
        let name = match &work {
            Work::Step(rb, si) => label(*rb, *si),
            Work::Restart { services, serves } if serves.len() == 1 => {
                let (rb, si) = serves[0];
                let _ = services;
                label(rb, si)
            }
            Work::Restart { services, .. } => restart_name(services, graph[node].phase),
        };
        // A step that waits for a retire step belongs to the retire phase too.
        let phase = needs
            .iter()
            .map(|n: &NodeIx| nodes[n.get()].phase)
            .chain([graph[node].phase])
            .max()
            .unwrap_or_default();
        let host = graph[node].host.clone();
        let name = match &host {
            Some(host) => format!("{name}@{host}"),
            None => name,
        };
        nodes.push(PlanNode {
            name,
            work,
            needs,
            phase,
            host,
        });
        for next in graph.neighbors_directed(node, Direction::Outgoing) {
            let d = indegree
                .get_mut(&next)
                .expect("every node has an indegree; this is a bug");
            *d -= 1;
            if *d == 0 {
                ready.push(Reverse((graph[next].ordinal, next)));
            }
        }
    }
    if nodes.len() != graph.node_count() {
        return Err(Problem::new(
            "runbook::plan::cycle",
            "the run's steps form a cycle across runbooks",
        ));
    }
    Ok(nodes)
}

/// The name of a restart that serves several steps: `restart:api,worker`, and in the retire
/// phase `retire-restart:api,worker`, since a run may restart the same services in each phase
/// and a node's name must be unique (the journal and the report find nodes by name).
pub(super) fn restart_name(services: &[String], phase: crate::model::Phase) -> String {
    match phase {
        crate::model::Phase::Activate => format!("restart:{}", services.join(",")),
        crate::model::Phase::Retire => format!("retire-restart:{}", services.join(",")),
    }
}
