//! The host seam: where a step's side effects happen. For now only the local machine: its
//! process groups (`process.rs`) and when a `run:` string can skip the shell (`shell.rs`).

pub mod process;
mod shell;
