//! The checked library: what `check` hands to everything after it. A checked step holds its
//! one kind as an enum (`StepKind`), so the planner, the engine and the views match on it and
//! never ask a deserialized step which of its kinds is set; runbooks and steps are found by
//! typed indices.

mod index;
mod runbook;
mod step;

pub(crate) use index::{RunbookIx, StepIx};
pub(crate) use runbook::Runbook;
pub(crate) use step::{Rollback, RollbackBody, RollbackKind, Step, StepKind};

/// Every runbook that loaded and checked cleanly, in the order they were loaded.
#[derive(Debug)]
pub(crate) struct Library {
    runbooks: Vec<Runbook>,
}

impl Library {
    pub(crate) fn new(runbooks: Vec<Runbook>) -> Self {
        Self { runbooks }
    }

    pub(crate) fn runbook(&self, rb: RunbookIx) -> &Runbook {
        &self.runbooks[rb.get()]
    }

    /// Every runbook, in library order.
    pub(crate) fn runbooks(&self) -> impl Iterator<Item = &Runbook> {
        self.runbooks.iter()
    }

    /// Every runbook with its index, in library order.
    pub(crate) fn indexed(&self) -> impl Iterator<Item = (RunbookIx, &Runbook)> {
        self.runbooks
            .iter()
            .enumerate()
            .map(|(i, r)| (RunbookIx::new(i), r))
    }

    /// The runbook named `name`.
    pub(crate) fn named(&self, name: &str) -> Option<RunbookIx> {
        self.indexed()
            .find(|(_, r)| r.name.value == name)
            .map(|(rb, _)| rb)
    }

    /// The rotation runbook owning a secret id or env name, case-insensitively.
    pub(crate) fn secret_owner(&self, key: &str) -> Option<&Runbook> {
        self.runbooks.iter().find(|r| {
            r.secret.as_ref().is_some_and(|s| {
                s.id.value.eq_ignore_ascii_case(key)
                    || s.env.iter().any(|e| e.value.eq_ignore_ascii_case(key))
            })
        })
    }

    /// The runbook whose secret id is exactly `id`.
    pub(crate) fn owner_of(&self, id: &str) -> Option<RunbookIx> {
        self.indexed()
            .find(|(_, r)| r.secret.as_ref().is_some_and(|s| s.id.value == id))
            .map(|(rb, _)| rb)
    }

    /// Every secret id, sorted, for "valid ids are ..." messages.
    pub(crate) fn secret_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .runbooks
            .iter()
            .filter_map(|r| r.secret.as_ref().map(|s| s.id.value.as_str()))
            .collect();
        ids.sort_unstable();
        ids
    }
}
