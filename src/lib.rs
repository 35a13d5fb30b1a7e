//! `runbook`: a declarative runbook interpreter for secret rotation.
//!
//! The binary is [`main`]; the library exposes only what the tests and the demo's examples
//! use: the atomic writer and the env file editor (the demo service and migration), the YAML
//! loader, model and template environment (the parser fuzzing), and the code tables.

pub mod atomic;
mod audit;
mod check;
mod checked;
mod cli;
pub mod codes;
mod commands;
mod diagnostic;
pub mod envfile;
mod events;
mod exec;
mod exit;
mod failpoint;
pub mod failure;
mod fasthash;
mod fingerprint;
mod host;
mod inventory;
mod journal;
pub mod load;
mod logging;
pub mod model;
mod operator;
mod plan;
mod project;
mod redact;
mod report;
mod schema;
mod state;
mod status;
mod steps;
pub mod template;
mod terminal;

/// Parses the command line, runs the command, and returns its documented exit code.
pub fn main() -> std::process::ExitCode {
    let (global, invocation) = cli::parse();
    std::process::ExitCode::from(commands::dispatch(&global, invocation))
}
