//! The replay fold: the journal's records, applied in order, to what they say about the run
//! (what began, completed, was skipped, armed, undone, and where the phases stand). Apart from
//! `recover.rs`, which turns the folded state into what a resume needs by reading the backups
//! and outputs it points to.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use super::{Begun, RunPhase, Waiting};
use crate::journal::{CompensationRecord, Record};
use crate::plan::NodeIx;

impl Begun {
    /// What a `Begin` record says; `None` for any other record.
    fn of(record: Record) -> Option<Self> {
        let Record::Begin {
            runbook,
            secret,
            inputs,
            nodes,
            started,
            yes,
            jobs,
            inventory,
            limit,
            vars,
            ..
        } = record
        else {
            return None;
        };
        Some(Begun {
            runbook,
            secret,
            inputs,
            nodes,
            started,
            yes,
            jobs,
            inventory,
            limit,
            vars,
        })
    }
}

/// What the journal's records say, folded in order.
#[derive(Default)]
pub(super) struct Replay {
    pub(super) begun: Option<Begun>,
    pub(super) intents: BTreeSet<NodeIx>,
    pub(super) completed: Vec<(NodeIx, Option<CompensationRecord>)>,
    pub(super) skipped: Vec<NodeIx>,
    pub(super) backups: HashMap<NodeIx, (PathBuf, Option<String>, Option<u32>)>,
    pub(super) undone: BTreeSet<NodeIx>,
    /// Nodes whose latest intent has a result (a retried step journals a fresh intent).
    pub(super) finished: BTreeSet<NodeIx>,
    /// Manual steps that stopped for an operator and have not started again since.
    pub(super) awaiting: BTreeSet<NodeIx>,
    pub(super) ended: bool,
    pub(super) phase: RunPhase,
    /// The boot the records being read were written in (`boot` records), if known.
    boot: Option<String>,
    /// Steps armed and not known to have started, started, ended or to be dropped: the
    /// boot that armed each, and which of the steps it waits for have not ended yet.
    armed: BTreeMap<NodeIx, ArmedIn>,
    /// Steps an armed step waited for when it went on: they ended well.
    pub(super) proven: BTreeSet<NodeIx>,
}

/// An armed step, as the journal read so far leaves it.
struct ArmedIn {
    boot: Option<String>,
    waits: BTreeSet<NodeIx>,
}

impl Replay {
    pub(super) fn apply(&mut self, record: Record) {
        match record {
            record @ Record::Begin { .. } => self.begun = Begun::of(record),
            Record::Intent { node, .. } | Record::Started { node } => {
                let node = NodeIx::new(node);
                self.intents.insert(node);
                self.finished.remove(&node);
                self.awaiting.remove(&node);
                self.went_on(node);
            }
            Record::Boot { id } => self.boot = Some(id),
            Record::Armed { node, waits, .. } => {
                let armed = ArmedIn {
                    boot: self.boot.clone(),
                    waits: waits.into_iter().map(NodeIx::new).collect(),
                };
                self.armed.insert(NodeIx::new(node), armed);
            }
            Record::Disarmed { nodes } => {
                for node in nodes {
                    self.armed.remove(&NodeIx::new(node));
                }
            }
            Record::Backup {
                node,
                path,
                backup,
                mode,
            } => {
                self.backups.insert(NodeIx::new(node), (path, backup, mode));
            }
            Record::Done {
                node,
                skipped: was_skipped,
                compensation,
                ..
            } => {
                let node = NodeIx::new(node);
                self.finished.insert(node);
                self.ended_well(node);
                if was_skipped {
                    self.skipped.push(node);
                } else {
                    self.completed.push((node, compensation));
                }
            }
            Record::Failed { node, .. } => {
                let node = NodeIx::new(node);
                self.finished.insert(node);
                self.ended_badly(node);
            }
            Record::Awaiting { node, .. } => {
                let node = NodeIx::new(node);
                self.finished.insert(node);
                self.awaiting.insert(node);
                self.ended_badly(node);
            }
            Record::Undone { node, ok: true, .. } => {
                self.undone.insert(NodeIx::new(node));
            }
            Record::End { .. } => self.ended = true,
            record @ Record::Waiting { .. } => {
                if let Some(waiting) = Waiting::of(record) {
                    self.waiting(waiting);
                }
            }
            Record::Retiring { .. } => {
                if let RunPhase::Waiting(w) = std::mem::take(&mut self.phase) {
                    self.phase = RunPhase::Retiring(w);
                }
            }
            Record::Undone { .. } | Record::Event { .. } | Record::Note { .. } => {}
        }
    }

    /// The activate phase ended (again) waiting for retire. What a rolled-back retire phase
    /// did is undone: only the activate phase's results stand, and the next retire starts
    /// from them.
    fn waiting(&mut self, waiting: Waiting) {
        let activated = &waiting.activated;
        self.completed.retain(|(n, _)| activated.contains(n));
        self.skipped.retain(|n| activated.contains(n));
        self.intents.retain(|n| activated.contains(n));
        self.backups.retain(|n, _| activated.contains(n));
        self.undone.clear();
        self.awaiting.clear();
        // The phase ended: nothing armed in it starts any more.
        self.armed.clear();
        self.proven.clear();
        self.phase = RunPhase::Waiting(waiting);
    }

    /// Node `node` finished well: it no longer holds back the steps armed after it (and if
    /// it was armed itself, it ended without a `started` mark: skipped by its `when`).
    fn ended_well(&mut self, node: NodeIx) {
        self.went_on(node);
        self.proven.remove(&node);
        for armed in self.armed.values_mut() {
            armed.waits.remove(&node);
        }
    }

    /// Node `node` failed, or waits for an operator: a step armed while it ran was waiting
    /// for it, so that step never started, whatever the boot.
    fn ended_badly(&mut self, node: NodeIx) {
        self.went_on(node);
        self.proven.remove(&node);
        self.armed.retain(|_, armed| !armed.waits.contains(&node));
    }

    /// Node `node` started or ended. If it was armed, its task began only once every step it
    /// waited for was done: those whose result is missing ended well all the same.
    fn went_on(&mut self, node: NodeIx) {
        if let Some(armed) = self.armed.remove(&node) {
            self.proven.extend(armed.waits);
        }
    }

    /// The armed steps left with no `started` mark, no result and no reason to know they
    /// never started: only the boot that armed them can tell. Read back in that boot, every
    /// line it wrote is in the file, so they never started; read back after a restart of
    /// the machine (or with no boot to compare), their mark may have been lost with the page
    /// cache, so they may have started.
    pub(super) fn armed_in_another_boot(&self, now: Option<&str>) -> BTreeSet<NodeIx> {
        self.armed
            .iter()
            .filter(|(_, armed)| now.is_none() || armed.boot.as_deref() != now)
            .map(|(node, _)| *node)
            .collect()
    }
}
