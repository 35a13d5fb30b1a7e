//! The secret values a run starts from, as `start.json` keeps them. Apart from the context
//! because they outlive it: they are written before any step runs and read back when a run
//! is taken up again, in the file shape runs begun by earlier versions wrote.

use std::collections::{BTreeMap, HashMap};

use crate::checked::RunbookIx;

type Values = BTreeMap<String, String>;

/// Everything secret a run starts from, kept in one 0600 file (`start.json`, one fsync) before
/// any step runs: the inputs entered now, values supplied for manual steps, and the current
/// values of the secrets the run reads, by runbook.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(from = "SnapshotFile", into = "SnapshotFile")]
pub(crate) struct StartSnapshot {
    pub inputs: Values,
    pub supplied: Values,
    pub currents: HashMap<RunbookIx, Values>,
}

/// The snapshot as `start.json` holds it: a three-element array, as runs begun before the
/// snapshot had a name wrote it, with runbooks by their plain index.
type SnapshotFile = (Values, Values, HashMap<usize, Values>);

impl From<SnapshotFile> for StartSnapshot {
    fn from((inputs, supplied, currents): SnapshotFile) -> Self {
        Self {
            inputs,
            supplied,
            currents: currents
                .into_iter()
                .map(|(rb, values)| (RunbookIx::new(rb), values))
                .collect(),
        }
    }
}

impl From<StartSnapshot> for SnapshotFile {
    fn from(snapshot: StartSnapshot) -> Self {
        let currents = snapshot.currents.into_iter();
        let currents = currents.map(|(rb, values)| (rb.get(), values)).collect();
        (snapshot.inputs, snapshot.supplied, currents)
    }
}

impl StartSnapshot {
    /// Whether there is nothing to keep: then no `start.json` is written (and no fsync paid),
    /// and `resume` reads its absence as this.
    pub(crate) fn is_empty(&self) -> bool {
        self.inputs.is_empty() && self.supplied.is_empty() && self.currents.is_empty()
    }
}
