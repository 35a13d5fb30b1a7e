//! One file per step kind. `execute` runs a step once; the scheduler owns retries, ordering
//! and rollback.

mod ask;
pub(crate) mod context;
pub(crate) mod durable;
mod env;
mod error;
mod exec;
mod file;
mod generate;
mod manual;
mod opened;
mod report;
mod restart;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use minijinja::Value;

use crate::checked::{Rollback, RunbookIx, Step, StepIx, StepKind};
use crate::failure::ErrorKind;
use crate::plan::NodeIx;
use context::RunContext;

pub(crate) use env::{run as run_env, target_file as env_target};
pub(crate) use error::StepError;
pub(crate) use exec::run_exec;
pub(crate) use file::run as run_file;
pub(crate) use restart::restart_services;

/// A step of a run: where it comes from and what it shares with the others.
#[derive(Clone)]
pub(crate) struct StepRun {
    pub ctx: Arc<RunContext>,
    /// The runbook, and the step in it.
    pub rb: RunbookIx,
    pub si: StepIx,
    /// The plan node this step runs as.
    pub node: NodeIx,
    /// `runbook/step`, as in the plan.
    pub name: String,
}

impl StepRun {
    /// A step of the run as plan node `node` runs it (`rb`, `si`: the step it carries out).
    pub(crate) fn new(ctx: &Arc<RunContext>, node: NodeIx, rb: RunbookIx, si: StepIx) -> Self {
        Self {
            ctx: Arc::clone(ctx),
            rb,
            si,
            node,
            name: ctx.plan.node(node).name.clone(),
        }
    }

    pub(crate) fn step(&self) -> &Step {
        self.ctx.runbook(self.rb).step(self.si)
    }

    /// The inventory host the node runs on; `None` for this machine.
    pub(crate) fn host_name(&self) -> Option<&str> {
        self.ctx.plan.node(self.node).host.as_deref()
    }

    /// Where the step acts.
    pub(crate) fn host(&self) -> &dyn crate::host::Host {
        self.ctx.host_of(self.host_name())
    }

    /// Renders a template of the step's runbook with its host's vars and outputs.
    pub(crate) fn render(&self, text: &str) -> Result<String, StepError> {
        self.ctx.render_on(self.rb, self.host_name(), text)
    }

    pub(crate) fn eval(&self, expr: &str, extra: Option<(&str, Value)>) -> Result<bool, StepError> {
        self.ctx.eval_on(self.rb, self.host_name(), expr, extra)
    }

    /// A path a template of the step names, on its host.
    pub(crate) fn resolve(&self, path: &str) -> PathBuf {
        self.ctx.resolve_on(self.host_name(), path)
    }
}

/// What a completed step leaves behind.
pub(crate) struct Done {
    /// `steps.<id>.*` for later templates.
    pub outputs: Value,
    /// How to undo it.
    pub compensation: Option<Compensation>,
}

impl std::fmt::Debug for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Outputs hold generated values and previous env values.
        f.debug_struct("Done")
            .field("outputs", &"[REDACTED]")
            .field("compensation", &self.compensation)
            .finish()
    }
}

impl Done {
    pub(crate) fn nothing() -> Self {
        Self {
            outputs: Value::from(()),
            compensation: None,
        }
    }
}

/// How a completed step is undone.
#[derive(Clone)]
pub(crate) enum Compensation {
    /// Put a file's exact previous bytes back (or remove a file that did not exist).
    Restore {
        path: PathBuf,
        previous: Option<Vec<u8>>,
        mode: Option<u32>,
        /// The backup file under the run folder, for `resume` and `abort`.
        backup: Option<String>,
    },
    /// Restart these services again once every file is restored.
    RestartAgain { services: Vec<String> },
    /// Run the step's own `rollback:` body.
    Rollback,
}

impl std::fmt::Debug for Compensation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The previous bytes of a file hold secrets.
        match self {
            Compensation::Restore { path, .. } => write!(f, "Restore({})", path.display()),
            Compensation::RestartAgain { services } => write!(f, "RestartAgain({services:?})"),
            Compensation::Rollback => f.write_str("Rollback"),
        }
    }
}

/// Runs one attempt of a step.
pub(crate) async fn execute(run: &StepRun) -> Result<Done, StepError> {
    let step = run.step();
    let mut done = match &step.kind {
        StepKind::Generate(spec) => generate::run(run, spec),
        StepKind::Exec(spec) => exec::run_step(run, spec).await,
        StepKind::Env(spec) => env::run(run, spec).await,
        StepKind::File(spec) => file::run(run, spec).await,
        StepKind::Restart(services) => {
            let services: Vec<String> = services
                .iter()
                .map(|s| run.ctx.render(run.rb, s))
                .collect::<Result<_, _>>()?;
            restart_services(run, &services).await.map(|()| Done {
                outputs: Value::from(()),
                compensation: Some(Compensation::RestartAgain { services }),
            })
        }
        StepKind::Verify(spec) => verify::run(run, spec).await,
        StepKind::Manual(spec) => manual::run(run, spec).await,
        StepKind::Report(spec) => report::run(run, spec).await,
        StepKind::Rotate(_) => Err(StepError::new(
            ErrorKind::Bug,
            "a `rotate` step is expanded by the planner and never runs; this is a bug",
        )),
    }?;
    // A declared rollback replaces the built-in one of kinds that have none of their own.
    if done.compensation.is_none() && matches!(step.rollback, Some(Rollback::Body(_))) {
        done.compensation = Some(Compensation::Rollback);
    }
    Ok(done)
}

pub(crate) use crate::operator::operator;
pub(crate) use manual::{confirm, undo_by_hand};
