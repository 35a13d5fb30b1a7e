//! Which steps of a plan one execution runs: all of them, or — for a routine run with an
//! overlap — the activate phase now and the retire phase later.

/// Which steps of the plan one execution runs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Every step: a plan without an overlap, or an incident run (which never overlaps).
    #[default]
    Whole,
    /// The activate phase of a routine run with an overlap: it ends waiting for retire.
    Activate,
    /// The retire phase: the rest of the plan, after the activate phase settled.
    Retire,
}

impl Stage {
    /// Where a new run of `plan` starts.
    pub(crate) fn first(plan: &crate::plan::Plan) -> Self {
        if plan.has_overlap() {
            Stage::Activate
        } else {
            Stage::Whole
        }
    }

    /// Whether this execution runs node `index`.
    pub(super) fn runs(self, plan: &crate::plan::Plan, index: crate::plan::NodeIx) -> bool {
        self != Stage::Activate || plan.node(index).phase == crate::model::Phase::Activate
    }
}
