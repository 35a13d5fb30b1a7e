//! The phase a step belongs to. A rotation with an overlap activates the new value first
//! (in use, the old one still verifying) and retires the old one in a later run, once the
//! overlap has passed; a runbook without `overlap` has only the activate phase.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Put the new value in use while the old one still verifies (the default).
    #[default]
    Activate,
    /// Stop the old value from verifying: run by `runbook retire` once the overlap has
    /// passed, or in the same run in incident mode.
    Retire,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Activate => "activate",
            Phase::Retire => "retire",
        }
    }
}
