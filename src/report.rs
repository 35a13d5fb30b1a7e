//! Everything the tool shows: diagnostics, plans, listings.

pub mod diagnostics;
pub mod list;
pub mod plan;
