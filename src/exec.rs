//! The executor: runs a plan on tokio — independent steps together up to `--jobs`, `needs`
//! honoured, failures compensated in reverse — and reports only through events.

mod compensate;
pub mod context;
pub mod doubt;
pub mod durable;
pub mod events;
mod pause;
pub mod preflight;
pub mod recover;
mod retry;
mod scheduler;
pub mod session;
pub mod start;

pub use compensate::AS_BEFORE;
pub use scheduler::{Completed, RunResult, StartState, execute_plan, rolled_back};
