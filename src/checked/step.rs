//! A checked step: the common fields as written, and its one kind as an enum.

use serde_saphyr::Spanned;

use crate::model::{
    EnvSpec, ExecSpec, FileSpec, GenerateSpec, HumanDuration, Interval, ManualSpec, Phase,
    ReportSpec, RotateSpec, VerifySpec,
};

#[derive(Debug)]
pub(crate) struct Step {
    pub id: Spanned<String>,
    pub description: Option<String>,
    // Exact length: a parsed list keeps room for four, 80 bytes each, per step.
    pub needs: Box<[Spanned<String>]>,
    pub when: Option<Box<Spanned<String>>>,
    pub timeout: Option<Box<Spanned<HumanDuration>>>,
    pub retries: Option<u32>,
    pub interval: Option<Interval>,
    pub backoff: Option<u32>,
    pub rollback: Option<Rollback>,
    pub idempotent: bool,
    pub check: Option<Box<ExecSpec>>,
    pub irreversible: bool,
    pub confirm: Option<String>,
    /// `activate` (the default) or `retire`.
    pub phase: Option<Box<Spanned<Phase>>>,
    /// Where the step runs, once per matching host (default: the runbook's `on`).
    pub on: Option<Box<Spanned<String>>>,
    pub kind: StepKind,
}

impl Step {
    /// The phase this step belongs to (`activate` unless it says `retire`).
    pub(crate) fn phase(&self) -> Phase {
        self.phase.as_ref().map(|p| p.value).unwrap_or_default()
    }
}

/// What a step does: exactly one kind, with its body (boxed: the largest body would
/// otherwise be the size of every step).
#[derive(Debug)]
pub(crate) enum StepKind {
    Generate(Box<GenerateSpec>),
    Exec(Box<ExecSpec>),
    Env(Box<EnvSpec>),
    File(Box<FileSpec>),
    /// Services to restart through the configured restart driver.
    Restart(Vec<String>),
    Verify(Box<VerifySpec>),
    Manual(Box<ManualSpec>),
    Rotate(Box<RotateSpec>),
    Report(Box<ReportSpec>),
}

impl StepKind {
    /// The kind as a runbook names it, and as events and plans show it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            StepKind::Generate(_) => "generate",
            StepKind::Exec(_) => "exec",
            StepKind::Env(_) => "env",
            StepKind::File(_) => "file",
            StepKind::Restart(_) => "restart",
            StepKind::Verify(_) => "verify",
            StepKind::Manual(_) => "manual",
            StepKind::Rotate(_) => "rotate",
            StepKind::Report(_) => "report",
        }
    }
}

/// How a step is undone when it declares so: `none`, or a body of its own.
#[derive(Debug)]
pub(crate) enum Rollback {
    /// `rollback: none`: nothing to undo (or nothing can be undone).
    None,
    Body(Box<RollbackBody>),
}

#[derive(Debug)]
pub(crate) struct RollbackBody {
    pub timeout: Option<HumanDuration>,
    pub kind: RollbackKind,
}

/// What a rollback body does: exactly one kind.
#[derive(Debug)]
pub(crate) enum RollbackKind {
    Exec(ExecSpec),
    Env(EnvSpec),
    File(FileSpec),
    Restart(Vec<String>),
    Manual(ManualSpec),
}
