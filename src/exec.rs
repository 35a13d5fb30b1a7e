//! The executor: runs a plan on tokio — independent steps together up to `--jobs`, `needs`
//! honoured, failures compensated in reverse — and reports only through events.

mod attempt;
mod compensate;
pub(crate) mod context;
pub(crate) mod doubt;
pub(crate) mod durable;
mod pause;
pub(crate) mod preflight;
pub(crate) mod recover;
mod retry;
mod scheduler;
pub(crate) mod session;
pub(crate) mod start;

pub(crate) use compensate::AS_BEFORE;
pub(crate) use scheduler::{Completed, RunResult, StartState, rolled_back};

// Events are a leaf of their own; the old path keeps code written against it on other
// branches compiling until it moves to `crate::events`.
#[allow(unused_imports)]
pub(crate) use crate::events;
