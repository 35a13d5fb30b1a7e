//! Which steps may run, decided before the run from what is already known: a `when` that
//! vars, inputs, `run.mode` and the secret's current values make false leaves its step out,
//! so nothing is asked or checked for it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::checked::{Library, RunbookIx, StepIx};
use crate::plan::Plan;
use crate::project::Project;

/// The steps that may run: those without `when`, and those whose `when` reads step outputs or
/// is true given vars, inputs, `run.mode` and the runbook's own secret (`secret.id`,
/// `secret.current`, `secret.values`, read before the run). A `when` that reads outputs is
/// decided at run time.
pub(super) fn active_steps(
    project: &Project,
    library: &Library,
    plan: &Plan,
    values: &BTreeMap<String, String>,
    currents: &HashMap<RunbookIx, BTreeMap<String, String>>,
) -> BTreeSet<(RunbookIx, StepIx)> {
    let env = crate::template::shared();
    plan.nodes
        .iter()
        .flat_map(crate::plan::PlanNode::steps)
        .filter(|(rb, si)| {
            let runbook = library.runbook(*rb);
            let Some(when) = &runbook.step(*si).when else { return true };
            let Ok(expr) = env.compile_expression(&when.value) else { return true };
            let known = |n: &String| n == "vars" || n == "inputs" || n == "run" || (n == "secret" && runbook.secret.is_some());
            if !expr.undeclared_variables(false).iter().all(known) {
                return true;
            }
            let inputs: BTreeMap<&String, &String> = values.iter().filter(|(k, _)| runbook.inputs.contains_key(*k)).collect();
            let secret = runbook.secret.as_ref().map(|s| secret_scope(s, currents.get(rb)));
            // `run.mode` is known; `run.id` is not yet, and a `when` reading it fails to
            // evaluate here and is decided at run time.
            let run = minijinja::context! { mode => plan.mode.as_str() };
            let ctx = minijinja::context! { vars => project.vars_for(&runbook.vars), inputs => crate::template::value_of(inputs), secret => secret, run => run };
            expr.eval(ctx).map_or(true, |v| v.is_true())
        })
        .collect()
}

/// `secret` as a `when` sees it before the run: the same fields a step sees.
fn secret_scope(
    secret: &crate::model::SecretSpec,
    values: Option<&BTreeMap<String, String>>,
) -> minijinja::Value {
    let empty = BTreeMap::new();
    let values = values.unwrap_or(&empty);
    let mut scope = BTreeMap::new();
    scope.insert("id", minijinja::Value::from(secret.id.value.clone()));
    if let Some(current) = secret.env.first().and_then(|e| values.get(&e.value)) {
        scope.insert("current", minijinja::Value::from(current.clone()));
    }
    scope.insert("values", crate::template::value_of(values));
    crate::template::value_of(scope)
}
