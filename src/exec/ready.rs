//! The ready set: which of a plan's nodes may start, a node being ready once everything it
//! needs has finished and it belongs to the stage being executed; and which will be ready
//! once the nodes running now end well ("soon"), for arming (`arming.rs`).

use std::collections::BTreeSet;

use super::stage::Stage;
use crate::plan::NodeIx;

/// Which nodes may start: a node is ready once everything it needs has finished.
pub(super) struct ReadySet {
    /// By node: how many of its needs have not finished.
    waiting: Vec<usize>,
    /// By node: how many of its needs have neither finished nor started. A node that waits
    /// only for running nodes is soon ready.
    unstarted: Vec<usize>,
    /// By node: whether it finished well (done or skipped).
    done: Vec<bool>,
    /// By node: the nodes that need it.
    dependents: Vec<Vec<NodeIx>>,
    ready: BTreeSet<NodeIx>,
    /// Not ready, but every need it waits for is running.
    soon: BTreeSet<NodeIx>,
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
        let mut done = vec![false; plan.nodes.len()];
        for index in finished {
            done[index.get()] = true;
        }
        Self {
            unstarted: waiting.clone(),
            done,
            waiting,
            dependents,
            ready,
            soon: BTreeSet::new(),
        }
    }

    pub(super) fn next(&mut self) -> Option<NodeIx> {
        self.ready.pop_first()
    }

    pub(super) fn is_ready(&self, node: NodeIx) -> bool {
        self.ready.contains(&node)
    }

    /// Takes `node` out of the ready set to start it, if it is ready.
    pub(super) fn take(&mut self, node: NodeIx) -> bool {
        self.ready.remove(&node)
    }

    /// The ready nodes, in the order `next` gives them.
    pub(super) fn ready(&self) -> impl Iterator<Item = NodeIx> + '_ {
        self.ready.iter().copied()
    }

    /// The nodes that wait only for running nodes.
    pub(super) fn soon(&self) -> impl Iterator<Item = NodeIx> + '_ {
        self.soon.iter().copied()
    }

    /// Whether node `index` finished well.
    pub(super) fn is_done(&self, index: NodeIx) -> bool {
        self.done[index.get()]
    }

    /// Nodes ready by their needs that were held back (by a batch of hosts) and may start.
    pub(super) fn release(&mut self, nodes: impl IntoIterator<Item = NodeIx>) {
        self.ready.extend(nodes);
    }

    /// Node `index` started: what waits only for running nodes now is soon ready.
    pub(super) fn started(&mut self, index: NodeIx) {
        for dependent in &self.dependents[index.get()] {
            let unstarted = &mut self.unstarted[dependent.get()];
            *unstarted -= 1;
            if *unstarted == 0 && self.waiting[dependent.get()] > 0 {
                self.soon.insert(*dependent);
            }
        }
    }

    /// Node `index` finished: what needed only it is ready now.
    pub(super) fn finished(&mut self, index: NodeIx) {
        self.done[index.get()] = true;
        for dependent in &self.dependents[index.get()] {
            self.waiting[dependent.get()] -= 1;
            if self.waiting[dependent.get()] == 0 {
                self.soon.remove(dependent);
                self.ready.insert(*dependent);
            }
        }
    }

    /// Node `index` ended without finishing well (failed, awaiting an operator): what needs
    /// it will not start, so it is no longer soon ready.
    pub(super) fn ended_badly(&mut self, index: NodeIx) {
        for dependent in &self.dependents[index.get()] {
            self.unstarted[dependent.get()] += 1;
            self.soon.remove(dependent);
        }
    }
}
