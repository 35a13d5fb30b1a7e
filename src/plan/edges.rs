//! The edges of a plan: each step's `needs`, a `rotate` step standing for the first and
//! last steps of the runbooks it expands into, and an implied rotation after the change
//! of the rotation that implies it.

use crate::fasthash::{Map as HashMap, Set as HashSet};

use petgraph::stable_graph::NodeIndex;

use crate::checked::{Library, RunbookIx, StepIx};
use crate::model::Phase;

use super::expand::Expansion;
use super::steps_before_restart;

pub(super) struct Edges<'a> {
    pub library: &'a Library,
    pub root: RunbookIx,
    pub expansion: &'a Expansion,
    /// The nodes of each (runbook, step), one per host; `rotate` steps have none.
    pub node_of: &'a HashMap<(RunbookIx, StepIx), Vec<NodeIndex>>,
    /// The host of each node.
    pub host_of: &'a HashMap<NodeIndex, Option<String>>,
}

/// The first and last steps of each expanded runbook: a rotate step's entries are those
/// roots, its exits those sinks.
#[derive(Default)]
struct Ends {
    roots: HashMap<RunbookIx, Vec<NodeIndex>>,
    sinks: HashMap<RunbookIx, Vec<NodeIndex>>,
}

impl Edges<'_> {
    /// Every edge, possibly repeated (the caller adds each once).
    pub(super) fn all(&self, order_of_runbooks: &[RunbookIx]) -> Vec<(NodeIndex, NodeIndex)> {
        let mut edges = self.needs(order_of_runbooks, &self.expanded_ends());
        edges.extend(self.implied());
        edges.extend(self.phases(order_of_runbooks));
        edges
    }

    fn expanded_ends(&self) -> Ends {
        let mut ends = Ends::default();
        for &e in self.expansion.rotations.values().flatten() {
            let runbook = self.library.runbook(e);
            let needed: HashSet<&str> = runbook
                .steps
                .iter()
                .flat_map(|s| s.needs.iter().map(|n| n.value.as_str()))
                .collect();
            for (i, s) in runbook.indexed_steps() {
                for &node in self.node_of.get(&(e, i)).into_iter().flatten() {
                    if s.needs.is_empty() {
                        ends.roots.entry(e).or_default().push(node);
                    }
                    if !needed.contains(s.id.value.as_str()) {
                        ends.sinks.entry(e).or_default().push(node);
                    }
                }
            }
        }
        ends
    }

    /// Entry (or exit) nodes of a step: itself, or for `rotate` the roots (or sinks) of
    /// the runbooks it expands into.
    fn ends_of(&self, ends: &Ends, rb: RunbookIx, si: StepIx, entry: bool) -> Vec<NodeIndex> {
        if let Some(nodes) = self.node_of.get(&(rb, si)) {
            return nodes.clone();
        }
        let Some(expanded) = self
            .expansion
            .rotations
            .get(&si)
            .filter(|_| rb == self.root)
        else {
            return Vec::new();
        };
        let table = if entry { &ends.roots } else { &ends.sinks };
        expanded
            .iter()
            .flat_map(|e| table.get(e).into_iter().flatten().copied())
            .collect()
    }

    fn needs(&self, order_of_runbooks: &[RunbookIx], ends: &Ends) -> Vec<(NodeIndex, NodeIndex)> {
        let mut edges = Vec::new();
        for &rb in order_of_runbooks {
            let runbook = self.library.runbook(rb);
            let index: HashMap<&str, StepIx> = runbook
                .indexed_steps()
                .map(|(i, s)| (s.id.value.as_str(), i))
                .collect();
            for (si, step) in runbook.indexed_steps() {
                for need in &step.needs {
                    let Some(&ni) = index.get(need.value.as_str()) else {
                        continue;
                    };
                    let froms = self.ends_of(ends, rb, ni, false);
                    for to in self.ends_of(ends, rb, si, true) {
                        edges.extend(self.sources_for(&froms, to).map(|from| (from, to)));
                    }
                }
            }
        }
        edges
    }

    /// A runbook's retire phase starts once its activate phase is complete: each retire step
    /// that needs no other retire step needs every last activate step. In a routine run the
    /// phases are separate runs anyway; in an incident run this is what orders them.
    fn phases(&self, order_of_runbooks: &[RunbookIx]) -> Vec<(NodeIndex, NodeIndex)> {
        let mut edges = Vec::new();
        for &rb in order_of_runbooks {
            let runbook = self.library.runbook(rb);
            let steps = &runbook.steps;
            // By id, once: a search per `needs` made a long retire phase quadratic.
            let phase_of: HashMap<&str, Phase> = steps
                .iter()
                .map(|s| (s.id.value.as_str(), s.phase()))
                .collect();
            let needed: HashSet<&str> = steps
                .iter()
                .filter(|s| s.phase() == Phase::Activate)
                .flat_map(|s| s.needs.iter().map(|n| n.value.as_str()))
                .collect();
            let last_activate: Vec<StepIx> = runbook
                .indexed_steps()
                .filter(|(_, s)| {
                    s.phase() == Phase::Activate && !needed.contains(s.id.value.as_str())
                })
                .map(|(i, _)| i)
                .collect();
            for (si, step) in runbook.indexed_steps() {
                let first_retire = step.phase() == Phase::Retire
                    && !step
                        .needs
                        .iter()
                        .any(|n| phase_of.get(n.value.as_str()) == Some(&Phase::Retire));
                if !first_retire {
                    continue;
                }
                let Some(tos) = self.node_of.get(&(rb, si)) else {
                    continue;
                };
                for &from in &last_activate {
                    let Some(froms) = self.node_of.get(&(rb, from)) else {
                        continue;
                    };
                    for &to in tos {
                        edges.extend(self.sources_for(froms, to).map(|f| (f, to)));
                    }
                }
            }
        }
        edges
    }

    /// Which of a needed step's nodes `to` waits for: on a host, the needed step's node on
    /// the same host when it has one (the env edit of `web1` before the restart of `web1`,
    /// not of every host); otherwise all of them (a secret generated here before every
    /// host's edit, every host's verify before a step that runs here).
    fn sources_for<'s>(
        &'s self,
        froms: &'s [NodeIndex],
        to: NodeIndex,
    ) -> impl Iterator<Item = NodeIndex> + 's {
        let host = &self.host_of[&to];
        let same_host = host.is_some() && froms.iter().any(|f| &self.host_of[f] == host);
        froms
            .iter()
            .copied()
            .filter(move |f| !same_host || &self.host_of[f] == host)
    }

    /// An implied rotation starts after the implying one has made its change (the steps
    /// before its restarts): rotating APP_ENCRYPTION_KEY must not race `ALTER USER` for the
    /// database, and the services are still restarted once, after both.
    fn implied(&self) -> Vec<(NodeIndex, NodeIndex)> {
        let mut edges = Vec::new();
        for &(parent, child) in &self.expansion.implied_after {
            let before_restart = steps_before_restart(self.library.runbook(parent));
            let child_runbook = self.library.runbook(child);
            let froms: Vec<NodeIndex> = before_restart
                .iter()
                .filter_map(|si| self.node_of.get(&(parent, *si)))
                .flatten()
                .copied()
                .collect();
            for (ci, step) in child_runbook.indexed_steps() {
                if !step.needs.is_empty() {
                    continue;
                }
                for &to in self.node_of.get(&(child, ci)).into_iter().flatten() {
                    edges.extend(self.sources_for(&froms, to).map(|from| (from, to)));
                }
            }
        }
        edges
    }
}
