//! The records of the journal.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::events::{Event, Outcome};
use crate::failure::ErrorKind;

/// How a completed step is undone, as the journal remembers it. File contents are in the
/// run's backup folder, never in the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum CompensationRecord {
    Restore {
        path: PathBuf,
        backup: Option<String>,
        mode: Option<u32>,
    },
    RestartAgain {
        services: Vec<String>,
    },
    Rollback,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub(crate) enum Record {
    /// What was asked: enough to plan the same run again on `resume`.
    Begin {
        run_id: String,
        runbook: String,
        secret: Option<String>,
        /// Non-secret `--input` values as given (secret ones are pending files).
        inputs: Vec<(String, String)>,
        nodes: Vec<String>,
        mode: String,
        started: String,
        operator: String,
        yes: bool,
        jobs: usize,
        /// `--inventory` as an absolute path, so `resume` and `abort` reach the same hosts
        /// without the operator passing it again. Absent from older journals and local runs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        inventory: Option<PathBuf>,
        /// `--limit`, for the same reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<String>,
        /// `--var` as given, for the same reason: a var can decide which steps run and what
        /// they do. Absent from older journals, which recorded none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vars: Option<Vec<(String, String)>>,
    },
    /// About to cause the step's side effect.
    Intent {
        node: usize,
        name: String,
        attempt: u32,
    },
    /// Which boot of the machine the records after it were written in (the kernel's
    /// `boot_id`): written once by each process that arms a step, before its first `armed`
    /// record. Recovery compares it with the boot it runs in: the `started` marks a process
    /// wrote are in the page cache, so they survive the process but not the machine.
    Boot { id: String },
    /// The intent of a step that is not yet runnable, written (and fsynced in the background)
    /// while the steps it `waits` for still run, so that it can start without waiting for the
    /// disk once they end (see `exec::arming`). Not yet a side effect: `started` follows right
    /// before it acts. Only the first try of a step is armed; a retry journals an `intent`.
    Armed {
        node: usize,
        name: String,
        /// The steps it needed that had not finished when it was armed: it starts only after
        /// every one of them is done, so a failure of one means it never started.
        #[serde(default)]
        waits: Vec<usize>,
    },
    /// An armed step is about to act: its durable `armed` record is its intent. Written, not
    /// fsynced: a killed process leaves it in the file; a machine that stops may lose it.
    Started { node: usize },
    /// Armed steps the run will not start (it stopped, or a step failed first).
    Disarmed { nodes: Vec<usize> },
    /// The previous bytes of a file are safe in the backup folder.
    Backup {
        node: usize,
        path: PathBuf,
        backup: Option<String>,
        mode: Option<u32>,
    },
    /// The step finished; its outputs are in `pending/out-<node>.json` when `outputs` is set.
    Done {
        node: usize,
        name: String,
        skipped: bool,
        outputs: bool,
        compensation: Option<CompensationRecord>,
    },
    Failed {
        node: usize,
        name: String,
        error: String,
        /// Absent from journals written before failures had kinds.
        #[serde(default)]
        error_kind: Option<ErrorKind>,
    },
    /// A manual step found no operator: it waits for `resume` (not a failure; it did
    /// nothing, so nothing is undone for it).
    Awaiting { node: usize, name: String },
    /// A compensation ran.
    Undone {
        node: usize,
        name: String,
        ok: bool,
        error: Option<String>,
    },
    /// An event, for the timeline of reports and `history`.
    Event { event: Event },
    /// The run ended; pending files and backups are gone.
    End {
        outcome: Outcome,
        exit_code: u8,
        summary: String,
        ended: String,
    },
    /// The activate phase is done: the new value is in use, the old one still verifies, and
    /// the run waits for retire at `due`. The run is not unfinished (no lock, not active):
    /// `runbook retire` continues it. Written again when a retire phase is rolled back.
    Waiting {
        /// RFC 3339: when the activate phase ended.
        since: String,
        /// RFC 3339: when the overlap has passed.
        due: String,
        /// Every plan node of the activate phase (done or skipped): never undone after this.
        activated: Vec<usize>,
        /// The secrets the run rotates, for `rotations.json`.
        secrets: Vec<String>,
        /// The pending files kept for the retire phase (0600; fingerprinted in the audit log).
        #[serde(default)]
        kept: Vec<String>,
    },
    /// The retire phase began (`runbook retire`); `early` when before the due date (`--now`).
    Retiring { operator: String, early: bool },
    /// Free-form facts worth keeping (e.g. `resume` started), for the timeline.
    Note {
        text: String,
        #[serde(default)]
        detail: BTreeMap<String, String>,
    },
}
