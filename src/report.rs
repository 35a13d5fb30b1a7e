//! Everything the tool shows: diagnostics, plans, listings.

pub(crate) mod diagnostics;
pub(crate) mod dry_run;
pub(crate) mod implications;
pub(crate) mod incident;
pub(crate) mod list;
pub(crate) mod live;
pub(crate) mod plan;
mod plan_describe;
pub(crate) mod plan_graph;
mod plan_text;
pub(crate) mod status;
