//! The nodes running now, by task. Once a step has failed, the verifies still running (or
//! waiting between tries) can only delay the rollback — they change nothing, and the run is
//! failed whatever they find — so they are aborted at once, their process groups killed as
//! their futures drop, and the rollback starts without them.

use std::collections::HashMap;
use std::time::Instant;

use tokio::task::{AbortHandle, Id};

use crate::checked::StepKind;
use crate::plan::NodeIx;
use crate::plan::Work;
use crate::steps::context::RunContext;

#[derive(Default)]
pub(super) struct InFlight {
    /// Each running task: its node, when it started, and (for a verify) how to abort it.
    pub(super) tasks: HashMap<Id, (NodeIx, Instant, Option<AbortHandle>)>,
}

impl InFlight {
    pub(super) fn started(&mut self, ctx: &RunContext, node: NodeIx, handle: AbortHandle) {
        let verify = match ctx.plan.node(node).work {
            Work::Step(rb, si) => matches!(ctx.runbook(rb).step(si).kind, StepKind::Verify(_)),
            Work::Restart { .. } => false,
        };
        self.tasks.insert(
            handle.id(),
            (node, Instant::now(), verify.then_some(handle)),
        );
    }

    /// The node of a task that ended, and when it started.
    pub(super) fn ended(&mut self, id: Id) -> Option<(NodeIx, Instant)> {
        self.tasks
            .remove(&id)
            .map(|(node, started, _)| (node, started))
    }

    /// Aborts every running verify (once: the handle is spent).
    pub(super) fn abort_verifies(&mut self) {
        for (_, _, handle) in self.tasks.values_mut() {
            if let Some(handle) = handle.take() {
                handle.abort();
            }
        }
    }
}
