//! The ready set: which of a plan's nodes may start, a node being ready once everything it
//! needs has finished and it belongs to the stage being executed.

use std::collections::BTreeSet;

use super::stage::Stage;

/// Which nodes may start: a node is ready once everything it needs has finished.
pub(super) struct ReadySet {
    waiting: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    ready: BTreeSet<usize>,
}

impl ReadySet {
    /// The ready set of `plan` when the nodes in `finished` are already done or skipped;
    /// nodes outside `stage` never become ready.
    pub(super) fn new(plan: &crate::plan::Plan, finished: &BTreeSet<usize>, stage: Stage) -> Self {
        let count = plan.nodes.len();
        let mut waiting: Vec<usize> = plan.nodes.iter().map(|n| n.needs.len()).collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); count];
        for (index, node) in plan.nodes.iter().enumerate() {
            for need in &node.needs {
                dependents[*need].push(index);
            }
        }
        for &index in finished {
            for dependent in &dependents[index] {
                waiting[*dependent] -= 1;
            }
        }
        // A node outside the stage waits for a need that never finishes.
        for (index, wait) in waiting.iter_mut().enumerate() {
            if !stage.runs(plan, index) {
                *wait += 1;
            }
        }
        let ready = (0..count)
            .filter(|i| waiting[*i] == 0 && !finished.contains(i))
            .collect();
        Self {
            waiting,
            dependents,
            ready,
        }
    }

    pub(super) fn next(&mut self) -> Option<usize> {
        self.ready.pop_first()
    }

    /// Nodes ready by their needs that were held back (by a batch of hosts) and may start.
    pub(super) fn release(&mut self, nodes: impl IntoIterator<Item = usize>) {
        self.ready.extend(nodes);
    }

    /// Node `index` finished: what needed only it is ready now.
    pub(super) fn finished(&mut self, index: usize) {
        for dependent in &self.dependents[index] {
            self.waiting[*dependent] -= 1;
            if self.waiting[*dependent] == 0 {
                self.ready.insert(*dependent);
            }
        }
    }
}
