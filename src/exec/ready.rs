//! The ready set: which of a plan's nodes may start, a node being ready once everything it
//! needs has finished and it belongs to the stage being executed.

use std::collections::BTreeSet;

use super::stage::Stage;
use crate::plan::NodeIx;

/// Which nodes may start: a node is ready once everything it needs has finished.
pub(super) struct ReadySet {
    /// By node: how many of its needs have not finished.
    waiting: Vec<usize>,
    /// By node: the nodes that need it.
    dependents: Vec<Vec<NodeIx>>,
    ready: BTreeSet<NodeIx>,
}

impl ReadySet {
    /// The ready set of `plan` when the nodes in `finished` are already done or skipped;
    /// nodes outside `stage` never become ready.
    pub(super) fn new(plan: &crate::plan::Plan, finished: &BTreeSet<NodeIx>, stage: Stage) -> Self {
        let mut waiting: Vec<usize> = plan.nodes.iter().map(|n| n.needs.len()).collect();
        let mut dependents: Vec<Vec<NodeIx>> = vec![Vec::new(); plan.nodes.len()];
        for (index, node) in plan.indexed_nodes() {
            for need in &node.needs {
                dependents[need.get()].push(index);
            }
        }
        for index in finished {
            for dependent in &dependents[index.get()] {
                waiting[dependent.get()] -= 1;
            }
        }
        // A node outside the stage waits for a need that never finishes.
        for (index, _) in plan.indexed_nodes() {
            if !stage.runs(plan, index) {
                waiting[index.get()] += 1;
            }
        }
        let ready = plan
            .indexed_nodes()
            .map(|(i, _)| i)
            .filter(|i| waiting[i.get()] == 0 && !finished.contains(i))
            .collect();
        Self {
            waiting,
            dependents,
            ready,
        }
    }

    pub(super) fn next(&mut self) -> Option<NodeIx> {
        self.ready.pop_first()
    }

    /// Nodes ready by their needs that were held back (by a batch of hosts) and may start.
    pub(super) fn release(&mut self, nodes: impl IntoIterator<Item = NodeIx>) {
        self.ready.extend(nodes);
    }

    /// Node `index` finished: what needed only it is ready now.
    pub(super) fn finished(&mut self, index: NodeIx) {
        for dependent in &self.dependents[index.get()] {
            self.waiting[dependent.get()] -= 1;
            if self.waiting[dependent.get()] == 0 {
                self.ready.insert(*dependent);
            }
        }
    }
}
