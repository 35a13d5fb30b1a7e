//! `serial` and `max_fail` at run time: a node on a host of a later batch waits until every
//! node of the batches before it has finished, and a host's failure within the budget
//! stops that host only — its remaining steps never start, what it did stays as it is (for
//! `resume` to retry or `abort` to undo), and the other hosts go on.

use std::collections::BTreeSet;

use super::stage::Stage;
use crate::plan::{NodeIx, Plan, Rolling};

/// A host that failed within the budget: the step it failed at, and why.
pub(crate) struct FailedHost {
    pub host: String,
    pub step: String,
    pub error: String,
}

pub(super) struct BatchGate {
    rolling: Rolling,
    /// Each node's batch; `None` for nodes outside the batches (this machine).
    batch: Vec<Option<usize>>,
    /// Each node's host.
    host: Vec<Option<String>>,
    /// Per batch, its nodes that have not finished.
    unfinished: Vec<BTreeSet<NodeIx>>,
    /// The first batch with unfinished nodes: nodes of later batches are held.
    open: usize,
    held: BTreeSet<NodeIx>,
    pub(super) failed: Vec<FailedHost>,
}

impl BatchGate {
    /// `None` for a plan without `serial` or `max_fail`: every node is admitted and any
    /// failure stops the run, as before.
    /// Nodes outside `stage` never run, so no batch waits for them.
    pub(super) fn new(plan: &Plan, finished: &BTreeSet<NodeIx>, stage: Stage) -> Option<Self> {
        let rolling = plan.rolling.clone()?;
        let batch: Vec<Option<usize>> = plan
            .nodes
            .iter()
            .map(|n| rolling.batch_of(n.host.as_deref()))
            .collect();
        let mut unfinished = vec![BTreeSet::new(); rolling.batches.len()];
        for (node, _) in plan.indexed_nodes() {
            if let Some(b) = batch[node.get()]
                && !finished.contains(&node)
                && stage.runs(plan, node)
            {
                unfinished[b].insert(node);
            }
        }
        let mut gate = Self {
            rolling,
            batch,
            host: plan.nodes.iter().map(|n| n.host.clone()).collect(),
            unfinished,
            open: 0,
            held: BTreeSet::new(),
            failed: Vec::new(),
        };
        gate.advance();
        Some(gate)
    }

    fn host_failed(&self, node: NodeIx) -> bool {
        self.host[node.get()]
            .as_deref()
            .is_some_and(|h| self.failed.iter().any(|f| f.host == h))
    }

    /// Whether `node`, ready by its needs, may start now. A node of a later batch is held
    /// until its batch opens; one of a failed host is dropped.
    pub(super) fn admits(&mut self, node: NodeIx) -> bool {
        if self.host_failed(node) {
            return false;
        }
        match self.batch[node.get()] {
            Some(b) if b > self.open => {
                self.held.insert(node);
                false
            }
            _ => true,
        }
    }

    /// `node` finished well; returns the held nodes a batch opening released.
    pub(super) fn finished(&mut self, node: NodeIx) -> Vec<NodeIx> {
        if let Some(b) = self.batch[node.get()] {
            self.unfinished[b].remove(&node);
        }
        self.advance()
    }

    /// A step failed on a host: whether the budget lets the run go on without that host
    /// (its unfinished nodes are dropped), and the held nodes that released.
    pub(super) fn tolerate(
        &mut self,
        node: NodeIx,
        step: &str,
        error: &str,
    ) -> Option<Vec<NodeIx>> {
        let host = self.host[node.get()].clone()?;
        let b = self.batch[node.get()]?;
        if self.failed.iter().any(|f| f.host == host) {
            // A second step failing on a host already counted (steps in parallel there).
            return Some(Vec::new());
        }
        if self.failed.len() >= self.rolling.max_fail {
            return None;
        }
        self.failed.push(FailedHost {
            host: host.clone(),
            step: step.to_string(),
            error: error.to_string(),
        });
        let dropped: Vec<NodeIx> = self.unfinished[b]
            .iter()
            .copied()
            .filter(|n| self.host[n.get()].as_deref() == Some(host.as_str()))
            .collect();
        for n in dropped {
            self.unfinished[b].remove(&n);
        }
        Some(self.advance())
    }

    /// Opens every batch whose predecessors have all finished; the nodes it releases.
    fn advance(&mut self) -> Vec<NodeIx> {
        while self.open < self.unfinished.len() && self.unfinished[self.open].is_empty() {
            self.open += 1;
        }
        let open = self.open;
        let batch = &self.batch;
        let released: Vec<NodeIx> = self
            .held
            .iter()
            .copied()
            .filter(|n| batch[n.get()].is_some_and(|b| b <= open))
            .collect();
        for n in &released {
            self.held.remove(n);
        }
        released
    }

    /// How many hosts failed and the budget, for the summary of a stop.
    pub(super) fn budget(&self) -> (usize, usize) {
        (self.failed.len(), self.rolling.max_fail)
    }

    /// Every host of the batches, in order.
    pub(super) fn hosts(&self) -> impl Iterator<Item = &String> {
        self.rolling.batches.iter().flatten()
    }
}

/// The end of a run that finished every host but those that failed within `max_fail`:
/// each host's state, and the two ways on; `None` when no host failed.
pub(super) fn partial_summary(
    gate: Option<&BatchGate>,
    run_id: &str,
    awaiting: bool,
) -> Option<String> {
    let gate = gate.filter(|g| !g.failed.is_empty())?;
    let mut parts = Vec::new();
    for failed in &gate.failed {
        parts.push(format!(
            "host {} failed at `{}` ({}): the steps it had done there stay in effect, the rest did not run",
            failed.host, failed.step, failed.error
        ));
    }
    let done: Vec<&str> = gate
        .hosts()
        .filter(|h| !gate.failed.iter().any(|f| &f.host == *h))
        .map(String::as_str)
        .collect();
    if !done.is_empty() {
        let verb = if awaiting {
            "ran every step but those awaiting the operator"
        } else {
            "ran every step"
        };
        parts.push(format!("{} {verb}", done.join(", ")));
    }
    let (failed, budget) = gate.budget();
    Some(format!(
        "{failed} of {} hosts failed (max_fail {budget}); {}; `runbook resume {run_id}` retries the failed host{s}, `runbook abort {run_id}` rolls every host back",
        gate.hosts().count(),
        parts.join("; "),
        s = if failed == 1 { "" } else { "s" },
    ))
}

/// What a stop adds to its cause when hosts had failed within the budget before it; nothing
/// otherwise.
pub(super) fn over_budget(gate: Option<&BatchGate>) -> String {
    let Some(gate) = gate.filter(|g| !g.failed.is_empty()) else {
        return String::new();
    };
    let (_, budget) = gate.budget();
    let hosts: Vec<&str> = gate.failed.iter().map(|f| f.host.as_str()).collect();
    format!(
        " ({} had failed before it, within max_fail {budget}; one more is over it)",
        hosts.join(", ")
    )
}
