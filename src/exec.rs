//! The executor: runs a plan on tokio — independent steps together up to `--jobs`, `needs`
//! honoured, failures compensated in reverse — and reports only through events.

mod compensate;
pub mod context;
pub mod events;
pub mod preflight;
pub mod process;
mod scheduler;

pub use scheduler::{RunResult, execute_plan};
