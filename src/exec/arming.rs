//! Arming: the intent of a step that will start next is journaled and fsynced while the steps
//! before it still run, so that it starts without waiting for the disk when its turn comes.
//!
//! An `exec` step's intent must be on disk before it acts (see `attempt::intent`), and in a
//! chain each step becomes ready only when the one before it ends: without arming, every
//! step of a chain waits for an fsync of its own between its predecessor's end and its own
//! start. Armed, that fsync runs in the background while the predecessor runs, and the step
//! journals only a `started` mark (one `write`, no fsync) right before it acts. Ready steps
//! are armed too just before they start, so that steps starting together (a run's first
//! ones) share one fsync instead of waiting for one each.
//!
//! What this costs in the truth recovery can tell: an armed step with no `started` mark
//! never started if the journal is read back in the boot that wrote it (a killed process
//! leaves every line it wrote in the page cache); after the machine stopped, the mark may be
//! lost, so such a step is in doubt and judged like any cut-off step (`doubt.rs`). At most
//! four times `jobs` steps are armed and not started at any moment (`ARMED_PER_JOB`), which
//! bounds what a machine crash can leave in doubt beyond the steps that were running. A step
//! is never armed where the boot cannot be told (`journal::boot_id`), nor in a run with
//! batches of hosts (`serial`), whose gate decides late which nodes start.

use std::collections::BTreeMap;

use super::ready::ReadySet;
use crate::checked::StepKind;
use crate::journal::{Record, boot_id};
use crate::plan::{NodeIx, Work};
use crate::steps::context::RunContext;

/// Whether node `index` must have its intent on disk before it acts. Generating and verifying
/// change nothing outside, and an idempotent exec may run twice: their intent need not be on
/// disk first. Nor need an edit's (`env`, `file`): its one side effect is the rename of the
/// new file, and the backup record it journals durably just before (see `Durable::backup`)
/// carries the intent to disk with it, the journal being appended in order.
pub(super) fn needs_durable_intent(ctx: &RunContext, index: NodeIx) -> bool {
    match &ctx.plan.node(index).work {
        Work::Step(rb, si) => {
            let step = ctx.runbook(*rb).step(*si);
            let harmless = matches!(step.kind, StepKind::Generate(_) | StepKind::Verify(_));
            let repeatable = step.idempotent && matches!(step.kind, StepKind::Exec(_));
            let backed_up = matches!(step.kind, StepKind::Env(_) | StepKind::File(_));
            !(harmless || repeatable || backed_up)
        }
        Work::Restart { .. } => true,
    }
}

pub(super) struct Arming {
    /// The boot this process runs in; `None` when nothing is armed.
    boot: Option<&'static str>,
    /// Whether the `boot` record is in the journal yet.
    boot_written: bool,
    /// How many steps may be armed and not started.
    limit: usize,
    /// How many steps a top-up arms at least, so that they share one fsync (see `BATCH`).
    batch: usize,
    /// Armed steps not started yet: the line of each one's `armed` record.
    armed: BTreeMap<NodeIx, u64>,
    /// Armed steps that will not start (a step they need failed).
    dropped: Vec<NodeIx>,
}

/// How many steps may be armed and not started, per job. One per job hides an fsync only
/// when it is shorter than a step; on a disk shared with other writers it took 3 ms here,
/// longer than a short step, and with one armed per job half the steps of W1 still waited
/// for theirs, a quarter with two (`benches/README.md`). Four per job makes the batches
/// (below) twice as large: W1 at two jobs made 305 fdatasyncs for 1,000 steps instead of
/// 503, and its CPU time fell by 30 ms. The cost: a machine crash leaves at most four times
/// `--jobs` armed steps in doubt beyond those that were running.
const ARMED_PER_JOB: usize = 4;

/// Steps are armed in batches of half the limit (at least two, at most the limit): topping
/// up each time one armed step starts would ask for an fsync per step, one `armed` record
/// each, and on this kind of virtual disk an fsync costs the CPU about as much as starting a
/// short step (W1: 912 fdatasyncs for 1,000 steps at two jobs). Waiting until half the armed
/// steps have started and arming as many at once lets one fsync carry them all, while the
/// other half, armed and on disk already, keep the jobs busy. The bound on what a machine
/// crash can leave in doubt is the limit, unchanged.
fn batch(limit: usize) -> usize {
    (limit / 2).max(2).min(limit)
}

/// How far into the ready and soon-ready nodes a top-up looks for steps to arm: the steps
/// that start next are near the front, and looking further each time a step ends would cost
/// a scan of the whole ready set per step.
const LOOK_AHEAD: usize = 8;

impl Arming {
    pub(super) fn new(ctx: &RunContext, gated: bool) -> Self {
        Self {
            boot: boot_id().filter(|_| !gated),
            boot_written: false,
            limit: ARMED_PER_JOB * ctx.options.jobs.max(1),
            batch: batch(ARMED_PER_JOB * ctx.options.jobs.max(1)),
            armed: BTreeMap::new(),
            dropped: Vec::new(),
        }
    }

    /// The next node to start: of the armed ones that are ready, the one armed first (the
    /// journal is fsynced in order, so its intent is the likeliest to be on disk already),
    /// else the first ready one.
    pub(super) fn next(&mut self, ready: &mut ReadySet) -> Option<NodeIx> {
        let armed = self
            .armed
            .iter()
            .filter(|(node, _)| ready.is_ready(**node))
            .min_by_key(|(_, line)| **line)
            .map(|(node, _)| *node);
        match armed {
            Some(node) => {
                ready.take(node);
                Some(node)
            }
            None => ready.next(),
        }
    }

    /// Node `index` starts: the line of its `armed` record, if it was armed.
    pub(super) fn starting(&mut self, index: NodeIx) -> Option<u64> {
        self.armed.remove(&index)
    }

    /// Node `index` ended without finishing well: the armed steps that need it never start.
    pub(super) fn ended_badly(&mut self, ctx: &RunContext, index: NodeIx) {
        let dead: Vec<NodeIx> = self
            .armed
            .keys()
            .copied()
            .filter(|node| ctx.plan.node(*node).needs.contains(&index))
            .collect();
        for node in dead {
            self.armed.remove(&node);
            self.dropped.push(node);
        }
    }

    /// Arms the steps that start next, up to the limit, once a batch of them can be armed:
    /// ready steps first, then those waiting only for running ones. Each `armed` record is
    /// written and its fsync asked for, not waited for.
    pub(super) fn top_up(&mut self, ctx: &RunContext, ready: &ReadySet) {
        let Some(boot) = self.boot else { return };
        if self.limit - self.armed.len().min(self.limit) < self.batch {
            return;
        }
        let candidates: Vec<NodeIx> = ready
            .ready()
            .take(LOOK_AHEAD + self.limit)
            .chain(ready.soon().take(LOOK_AHEAD + self.limit))
            .filter(|node| !self.armed.contains_key(node) && needs_durable_intent(ctx, *node))
            .take(self.limit - self.armed.len())
            .collect();
        for node in candidates {
            let journal = &ctx.durable.journal;
            if !self.boot_written {
                journal.record(&Record::Boot { id: boot.into() });
                self.boot_written = true;
            }
            let plan_node = ctx.plan.node(node);
            let waits = plan_node
                .needs
                .iter()
                .filter(|need| !ready.is_done(**need))
                .map(|need| need.get())
                .collect();
            let record = Record::Armed {
                node: node.get(),
                name: plan_node.name.clone(),
                waits,
            };
            match journal.durable_later(&record) {
                Ok(line) => _ = self.armed.insert(node, line),
                // The journal is broken: the step fails on its own intent; arm nothing more.
                Err(_) => {
                    self.boot = None;
                    return;
                }
            }
        }
    }

    /// The run starts nothing more: the armed steps it did not start are journaled as such.
    /// Not fsynced; after a power cut that loses it, those steps are judged as in doubt.
    pub(super) fn finish(mut self, ctx: &RunContext) {
        self.dropped.extend(self.armed.keys().copied());
        if self.dropped.is_empty() {
            return;
        }
        self.dropped.sort();
        ctx.durable.journal.record(&Record::Disarmed {
            nodes: self.dropped.iter().map(|n| n.get()).collect(),
        });
    }
}
