//! Which steps' outputs a template of the run reads, found once from the templates
//! themselves: the context keeps only those outputs, and a run keeps only those between its
//! phases.

use std::collections::HashSet;

use crate::checked::{Library, RunbookIx, StepIx};
use crate::plan::Plan;
use crate::template::is_template;

/// Every (runbook, step) whose `steps.<id>` a template of the run reads.
pub(super) fn referenced_steps(library: &Library, plan: &Plan) -> HashSet<(RunbookIx, StepIx)> {
    steps_read_by(library, plan, |_| true)
}

/// Every (runbook, step) whose `steps.<id>` a template of a step that `reader` accepts
/// reads (the retire phase's, for what a run keeps between its phases).
pub(crate) fn steps_read_by(
    library: &Library,
    plan: &Plan,
    reader: impl Fn(&crate::checked::Step) -> bool,
) -> HashSet<(RunbookIx, StepIx)> {
    let env = crate::template::shared();
    let mut runbooks: Vec<RunbookIx> = plan.runbooks.clone();
    runbooks.push(plan.root);
    let mut out = HashSet::new();
    for rb in runbooks {
        let runbook = library.runbook(rb);
        for step in &runbook.steps {
            if !reader(step) {
                continue;
            }
            for site in crate::check::sites(step) {
                if !is_template(site.text) && site.role != crate::check::Role::Expr {
                    continue;
                }
                let names: Vec<String> = match site.role {
                    crate::check::Role::Expr => env
                        .compile_expression(site.text)
                        .map(|e| e.undeclared_variables(true).into_iter().collect()),
                    _ => env
                        .template_from_str(site.text)
                        .map(|t| t.undeclared_variables(true).into_iter().collect()),
                }
                .unwrap_or_default();
                for name in names {
                    let mut parts = name.split('.');
                    if parts.next() != Some("steps") {
                        continue;
                    }
                    match parts.next() {
                        Some(id) => out.extend(runbook.step_named(id).map(|index| (rb, index))),
                        // `steps` read as a whole (`steps[name]`, a loop over it): any step
                        // of its runbook may be the one read.
                        None => out.extend(runbook.indexed_steps().map(|(si, _)| (rb, si))),
                    }
                }
            }
        }
    }
    out
}
