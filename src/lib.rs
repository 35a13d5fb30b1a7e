//! `runbook`: a declarative runbook interpreter for secret rotation.

pub mod atomic;
pub mod audit;
pub mod check;
pub mod cli;
pub mod codes;
pub mod commands;
pub mod diagnostic;
pub mod envfile;
pub mod exec;
pub mod exit;
pub mod failpoint;
pub mod failure;
pub mod fingerprint;
pub mod journal;
pub mod load;
pub mod logging;
pub mod model;
pub mod plan;
pub mod project;
pub mod redact;
pub mod report;
pub mod schema;
pub mod state;
pub mod status;
pub mod steps;
pub mod template;
