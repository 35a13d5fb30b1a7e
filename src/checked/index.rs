//! Typed indices into the checked library: a runbook of it, a step of a runbook. Plan nodes
//! have their own (`plan::NodeIx`); none of the three can stand for another.

/// A runbook's place in the checked library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RunbookIx(usize);

/// A step's place in its runbook's `steps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StepIx(usize);

impl RunbookIx {
    /// The index a file written by an earlier run stored (`start.json`).
    pub(crate) fn new(index: usize) -> Self {
        Self(index)
    }

    pub(crate) fn get(self) -> usize {
        self.0
    }
}

impl StepIx {
    pub(crate) fn new(index: usize) -> Self {
        Self(index)
    }

    pub(crate) fn get(self) -> usize {
        self.0
    }
}
