//! Rolling over hosts: the batches `serial` makes of the hosts a runbook's `on:` selects,
//! in the order the inventory lists them, and how many hosts `max_fail` lets fail.

use crate::checked::Runbook;
use crate::project::Project;

/// The root runbook's `serial` and `max_fail`, applied to its hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rolling {
    /// Host names, batch by batch: a batch starts once the one before it has finished.
    pub batches: Vec<Vec<String>>,
    /// How many hosts may fail before the run stops (and rolls back every host).
    pub max_fail: usize,
}

impl Rolling {
    /// The batch a host belongs to; `None` for this machine or a host outside the batches
    /// (a step's own `on:` naming other hosts).
    pub(crate) fn batch_of(&self, host: Option<&str>) -> Option<usize> {
        let host = host?;
        self.batches
            .iter()
            .position(|batch| batch.iter().any(|h| h == host))
    }
}

impl Rolling {
    /// The plan's note of the batches and the budget, as `plan` shows it.
    pub(crate) fn describe(&self) -> String {
        let batches: Vec<String> = self.batches.iter().map(|batch| batch.join(", ")).collect();
        format!(
            "hosts in {} batch{} (serial), each after the one before: {}; max_fail {}: {}",
            batches.len(),
            if batches.len() == 1 { "" } else { "es" },
            batches.join(" | "),
            self.max_fail,
            if self.max_fail == 0 {
                "any failure stops the run and rolls every host back".to_string()
            } else {
                format!(
                    "up to {} host{} may fail and be left for resume or abort",
                    self.max_fail,
                    if self.max_fail == 1 { "" } else { "s" }
                )
            }
        )
    }
}

/// `None` when the runbook asks for neither (one batch, no failure tolerated: every run
/// before `serial` existed). The checker refused values that do not parse.
pub(crate) fn rolling(project: &Project, runbook: &Runbook) -> Option<Rolling> {
    if runbook.serial.is_none() && runbook.max_fail.is_none() {
        return None;
    }
    let hosts = project
        .inventory
        .select(&runbook.on.as_ref()?.value)
        .unwrap_or_default();
    let size = match &runbook.serial {
        Some(serial) => serial.value.parse().ok()?.of(hosts.len(), true),
        None => hosts.len().max(1),
    };
    let max_fail = match &runbook.max_fail {
        Some(share) => share.value.parse().ok()?.of(hosts.len(), false),
        None => 0,
    };
    Some(Rolling {
        batches: hosts.chunks(size).map(<[String]>::to_vec).collect(),
        max_fail,
    })
}
