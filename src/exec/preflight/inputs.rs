//! The inputs of a run: which it takes, and their values from `--input` (a secret one
//! never literal), `RUNBOOK_INPUT_<NAME>` or the declared default.

use std::collections::BTreeMap;

use crate::checked::Library;
use crate::checked::StepKind;
use crate::diagnostic::Problem;
use crate::plan::{Plan, Work};

use super::problem;

pub(super) struct Declared {
    pub secret: bool,
    pub manual: bool,
    pub default: Option<String>,
}

/// Reads `@file` inputs; one trailing newline is dropped (editors add one).
fn read_input_file(name: &str, path: &str) -> Result<String, Problem> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| problem(format!("input `{name}`: cannot read `{path}`: {e}")))?;
    Ok(text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text)
        .to_string())
}

/// Every input the run can take: the runbooks' `inputs` and the manual steps' `input`.
pub(super) fn declarations(library: &Library, plan: &Plan) -> BTreeMap<String, Declared> {
    let mut declared = BTreeMap::new();
    let mut runbooks = vec![plan.root];
    runbooks.extend(plan.runbooks.iter().copied().filter(|r| *r != plan.root));
    for &rb in &runbooks {
        for (name, spec) in &library.runbook(rb).inputs {
            declared.entry(name.clone()).or_insert(Declared {
                secret: spec.secret,
                manual: false,
                default: spec.default.clone(),
            });
        }
    }
    for node in &plan.nodes {
        let Work::Step(rb, si) = node.work else {
            continue;
        };
        if let StepKind::Manual(manual) = &library.runbook(rb).step(si).kind
            && let Some(input) = &manual.input
        {
            declared.entry(input.name.clone()).or_insert(Declared {
                secret: input.secret,
                manual: true,
                default: None,
            });
        }
    }
    declared
}

/// The value of every input given or defaulted; what is wrong with the ones given.
pub(super) fn gather_inputs(
    raw_inputs: &[(String, String)],
    declared: &BTreeMap<String, Declared>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in raw_inputs {
        let Some(decl) = declared.get(name) else {
            let known: Vec<&str> = declared.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            problems.push(problem(format!(
                "unknown input `{name}` (this run takes: {known})"
            )));
            continue;
        };
        if let Some(path) = value.strip_prefix('@') {
            match read_input_file(name, path) {
                Ok(text) => {
                    values.insert(name.clone(), text);
                }
                Err(p) => problems.push(p),
            }
        } else if decl.secret {
            // Never echo the value back: it is the secret the operator just exposed.
            problems.push(
                problem(format!("input `{name}` is a secret and cannot be given on the command line (it would land in shell history)"))
                    .help(format!("use `--input {name}=@FILE` or set {}", crate::model::input_variable(name))),
            );
        } else {
            values.insert(name.clone(), value.clone());
        }
    }
    for (name, decl) in declared {
        if values.contains_key(name) {
            continue;
        }
        if let Ok(value) = std::env::var(crate::model::input_variable(name)) {
            values.insert(name.clone(), value);
        } else if let Some(default) = &decl.default {
            values.insert(name.clone(), default.clone());
        }
    }
    values
}
