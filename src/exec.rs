//! The executor: runs a plan on tokio — independent steps together up to `--jobs`, `needs`
//! honoured, failures compensated in reverse — and reports only through events.

mod arming;
mod attempt;
mod audit_trail;
mod compensate;
pub(crate) mod doubt;
mod ending;
mod in_flight;
mod pause;
pub(crate) mod phases;
pub(crate) mod preflight;
mod ready;
pub(crate) mod recover;
mod retry;
mod rolling;
mod scheduler;
pub(crate) mod session;
mod stage;
pub(crate) mod start;
pub(crate) mod sweep;
pub(crate) mod swept;

pub(crate) use compensate::AS_BEFORE;
pub(crate) use ending::rolled_back;
pub(crate) use scheduler::{Completed, RunResult, Stage, StartState};

// Events are a leaf of their own, and the run's context and durable record live with the
// steps that read them; the old paths keep code written against them on other branches
// compiling until it moves.
#[allow(unused_imports)]
pub(crate) use crate::events;
#[allow(unused_imports)]
pub(crate) use crate::steps::{context, durable};
