//! Everything the tool shows: diagnostics, plans, listings.

pub mod diagnostics;
pub mod dry_run;
pub mod implications;
pub mod list;
pub mod live;
pub mod plan;
pub mod plan_graph;
mod plan_text;
pub mod status;
