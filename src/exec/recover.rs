//! Reading a run back from its journal and pending files: what completed (and how to undo
//! it), what was skipped, what started but never recorded a result (in doubt), what was
//! already undone, and each completed step's outputs.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use minijinja::Value;

use super::compensate::Completed;
use crate::journal::{CompensationRecord, Record, read_journal};
use crate::plan::NodeIx;
use crate::state::StateDir;
use crate::steps::Compensation;

mod replay;

use replay::Replay;

/// What the run was asked to do (the `Begin` record).
#[derive(Debug, Clone)]
pub(crate) struct Begun {
    pub runbook: String,
    pub secret: Option<String>,
    pub inputs: Vec<(String, String)>,
    pub nodes: Vec<String>,
    pub started: String,
    pub yes: bool,
    pub jobs: usize,
    /// The `--inventory`, `--limit` and `--var` the run started with (`vars` is `None` in
    /// journals older than its recording).
    pub inventory: Option<PathBuf>,
    pub limit: Option<String>,
    pub vars: Option<Vec<(String, String)>>,
}

pub(crate) struct Recovered {
    pub begun: Begun,
    pub completed: Vec<Completed>,
    pub skipped: Vec<NodeIx>,
    /// Intent journaled, no result: the side effect may or may not have happened.
    pub in_doubt: Vec<NodeIx>,
    /// Of those, the steps armed in another boot with no `started` mark read back: the mark
    /// is not fsynced, so whether they started at all is not known (see `exec::arming`).
    pub maybe_started: BTreeSet<NodeIx>,
    /// Steps with no result read back that surely ended well: a step armed behind them
    /// started (or ended) after them, which it does only once they are done. Their results
    /// were written, not fsynced, and a machine crash lost them.
    pub ended_well: BTreeSet<NodeIx>,
    /// Backups taken by steps, by node: (file, backup name, mode).
    pub backups: HashMap<NodeIx, (PathBuf, Option<String>, Option<u32>)>,
    pub outputs: HashMap<NodeIx, Value>,
    pub undone: BTreeSet<NodeIx>,
    /// Manual steps that stopped for an operator and have not run since, by plan node.
    pub awaiting: BTreeSet<NodeIx>,
    pub ended: bool,
    /// Where a run with an overlap stands between its phases.
    pub phase: RunPhase,
    /// Steps the activate phase completed, once it ended: never undone by the retire phase
    /// (not in `completed`).
    pub settled: BTreeSet<NodeIx>,
}

/// Where a run stands between its phases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum RunPhase {
    /// No phase has ended: a run without an overlap, or one still in its activate phase.
    #[default]
    Activating,
    /// The activate phase ended; the run waits for `runbook retire`.
    Waiting(Waiting),
    /// `runbook retire` began the retire phase.
    Retiring(Waiting),
}

/// What the journal's last `waiting` record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Waiting {
    pub since: String,
    pub due: String,
    pub activated: BTreeSet<NodeIx>,
    pub secrets: Vec<String>,
    /// The pending files kept for the retire phase.
    pub kept: Vec<String>,
}

impl Waiting {
    /// What a `waiting` record says; `None` for any other record.
    pub(crate) fn of(record: Record) -> Option<Waiting> {
        match record {
            Record::Waiting {
                since,
                due,
                activated,
                secrets,
                kept,
            } => Some(Waiting {
                since,
                due,
                activated: activated.into_iter().map(NodeIx::new).collect(),
                secrets,
                kept,
            }),
            _ => None,
        }
    }
}

pub(crate) fn recover(state: &StateDir, run_id: &str) -> Result<Recovered, String> {
    let path = state.journal_path(run_id);
    if !path.exists() {
        return Err(format!("no run `{run_id}` in {}", state.root.display()));
    }
    let records = read_journal(&path).map_err(|e| format!("run `{run_id}`: {e}"))?;
    let mut replay = Replay::default();
    for record in records {
        replay.apply(record);
    }
    let maybe_started = replay.armed_in_another_boot(crate::journal::boot_id());
    let ended_well = std::mem::take(&mut replay.proven);
    let Replay {
        begun,
        intents,
        completed,
        skipped,
        backups,
        undone,
        finished,
        awaiting,
        ended,
        phase,
        ..
    } = replay;
    let begun = begun.ok_or_else(|| format!("run `{run_id}`: the journal has no beginning"))?;
    if ended {
        // Its backups are gone with it; nothing will be undone.
        return Ok(Recovered {
            begun,
            completed: Vec::new(),
            skipped,
            in_doubt: Vec::new(),
            maybe_started: BTreeSet::new(),
            ended_well: BTreeSet::new(),
            backups,
            outputs: HashMap::new(),
            undone,
            awaiting: BTreeSet::new(),
            ended,
            phase,
            settled: BTreeSet::new(),
        });
    }
    let settled_phase = |node: NodeIx| match &phase {
        RunPhase::Activating => false,
        RunPhase::Waiting(w) | RunPhase::Retiring(w) => w.activated.contains(&node),
    };
    let completed = compensations(state, run_id, completed, &settled_phase)?;
    let done: BTreeSet<NodeIx> = completed
        .iter()
        .map(|c| c.node)
        .chain(skipped.iter().copied())
        .collect();
    let in_doubt = intents
        .iter()
        .chain(&maybe_started)
        .copied()
        .filter(|n| !finished.contains(n) && !done.contains(n))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let outputs = read_outputs(state, run_id, &completed)?;
    let (settled, completed): (Vec<Completed>, Vec<Completed>) =
        completed.into_iter().partition(|c| settled_phase(c.node));
    let settled = settled.into_iter().map(|c| c.node).collect();
    Ok(Recovered {
        phase,
        settled,
        begun,
        completed,
        skipped,
        in_doubt,
        maybe_started,
        ended_well,
        backups,
        outputs,
        undone,
        awaiting,
        ended,
    })
}

/// The completed steps with how to undo each, its backup read back. The activate phase's
/// backups were deleted when it ended (`settled`): it is never undone.
fn compensations(
    state: &StateDir,
    run_id: &str,
    completed: Vec<(NodeIx, Option<CompensationRecord>)>,
    settled: &dyn Fn(NodeIx) -> bool,
) -> Result<Vec<Completed>, String> {
    completed
        .into_iter()
        .map(|(node, record)| {
            Ok(Completed {
                node,
                compensation: record
                    .filter(|_| !settled(node))
                    .map(|c| rebuild(state, run_id, c))
                    .transpose()?,
            })
        })
        .collect()
}

/// The outputs each completed step left in the pending dir, for the templates of the rest.
fn read_outputs(
    state: &StateDir,
    run_id: &str,
    completed: &[Completed],
) -> Result<HashMap<NodeIx, Value>, String> {
    let mut outputs = HashMap::new();
    for item in completed {
        let file = state
            .pending_dir(run_id)
            .join(format!("out-{}.json", item.node.get()));
        if let Ok(bytes) = std::fs::read(&file) {
            let json: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
            outputs.insert(item.node, crate::template::value_of(json));
        }
    }
    Ok(outputs)
}

/// Turns a journaled compensation back into one that can run, reading the backup bytes.
pub(crate) fn rebuild(
    state: &StateDir,
    run_id: &str,
    record: CompensationRecord,
) -> Result<Compensation, String> {
    Ok(match record {
        CompensationRecord::Restore { path, backup, mode } => {
            let previous = match &backup {
                Some(name) => {
                    let file = state.backup_dir(run_id).join(name);
                    Some(
                        std::fs::read(&file)
                            .map_err(|e| format!("the backup {}: {e}", file.display()))?,
                    )
                }
                None => None,
            };
            Compensation::Restore {
                path,
                previous,
                mode,
                backup,
            }
        }
        CompensationRecord::RestartAgain { services } => Compensation::RestartAgain { services },
        CompensationRecord::Rollback => Compensation::Rollback,
    })
}
