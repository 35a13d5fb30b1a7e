//! Everything the tool shows: diagnostics, plans, listings.

pub mod diagnostics;
pub mod dry_run;
pub mod list;
pub mod live;
pub mod plan;
mod plan_describe;
pub mod plan_graph;
mod plan_text;
