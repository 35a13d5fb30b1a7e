//! How long a routine run waits between its phases, and whether it has two at all.

use crate::checked::{Library, RunbookIx, StepIx};
use crate::model::{HumanDuration, Mode, Phase};
use crate::project::Project;

use super::PlanNode;

/// The longest `overlap` among the runbooks whose retire steps may run in this run; none for
/// an incident run, which never overlaps. A retire step whose `when` is false from the vars
/// and `run.mode` alone never runs (a runbook whose mode a var selects, one of which keeps no
/// old value), so it makes no retire phase: a run that would only wait to skip it ends in one.
pub(super) fn overlap_of(
    project: &Project,
    library: &Library,
    mode: Mode,
    nodes: &[PlanNode],
) -> Option<HumanDuration> {
    if mode == Mode::Incident {
        return None;
    }
    nodes
        .iter()
        .filter(|n| n.phase == Phase::Retire)
        .flat_map(|n| {
            n.steps()
                .into_iter()
                .map(move |step| (n.host.as_deref(), step))
        })
        .filter(|(host, (rb, si))| !never_runs(project, library, mode, *host, *rb, *si))
        .filter_map(|(_, (rb, _))| {
            let secret = library.runbook(rb).secret.as_ref()?;
            secret.overlap.as_ref().map(|o| o.value.clone())
        })
        .max_by_key(|o| o.duration)
}

/// Whether a step's `when` is false from its vars (on its host) and `run.mode`; one that
/// reads anything else is decided when the run gets there.
fn never_runs(
    project: &Project,
    library: &Library,
    mode: Mode,
    host: Option<&str>,
    rb: RunbookIx,
    si: StepIx,
) -> bool {
    let runbook = library.runbook(rb);
    let Some(when) = &runbook.step(si).when else {
        return false;
    };
    let ctx = minijinja::context! {
        vars => crate::template::value_of(project.vars_on(&runbook.vars, host)),
        run => minijinja::context! { mode => mode.as_str() },
    };
    crate::template::eval_bool(crate::template::shared(), &when.value, &ctx).is_ok_and(|v| !v)
}
