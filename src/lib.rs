//! `runbook`: a declarative runbook interpreter for secret rotation.

pub mod atomic;
pub mod check;
pub mod cli;
pub mod commands;
pub mod diagnostic;
pub mod envfile;
pub mod exit;
pub mod load;
pub mod model;
pub mod plan;
pub mod project;
pub mod redact;
pub mod report;
pub mod schema;
pub mod template;
