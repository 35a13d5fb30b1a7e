//! Templates outside steps: vars built from other vars, and the restart driver. They are
//! rendered before any step runs, so they may read only `vars.*` (and the driver
//! `services`).

use crate::diagnostic::Problem;
use crate::load::Loaded;
use crate::model::Runbook;
use crate::project::Project;
use crate::template::is_template;

use super::sites::Role;
use super::templates::{locate, parse_names};

/// The restart driver's template may use `vars` and `services` only.
pub(super) fn check_restart_driver(project: &Project) -> Vec<Problem> {
    let env = crate::template::shared();
    let template = match env.template_from_str(&project.restart.run) {
        Ok(t) => t,
        Err(e) => {
            let err = crate::template::TemplateError::from_minijinja(&e);
            return vec![config_problem(
                project,
                "runbook::check::template_syntax",
                format!("restart driver: {}", err.message),
            )];
        }
    };
    let mut problems = Vec::new();
    let mut names: Vec<String> = template.undeclared_variables(true).into_iter().collect();
    names.sort();
    for name in names {
        let parts: Vec<&str> = name.split('.').collect();
        let bad = match parts.as_slice() {
            ["services", ..] => false,
            ["vars", var, ..] => {
                // A host's vars fill the driver it runs on that host.
                !project.config_vars.contains_key(*var)
                    && !project.cli_vars.contains_key(*var)
                    && !project.inventory.defines(var)
            }
            _ => true,
        };
        if bad {
            problems.push(config_problem(
                project,
                "runbook::check::undefined",
                format!(
                    "restart driver: undefined name `{name}` (it may use `vars.*` and `services`)"
                ),
            ));
        }
    }
    problems
}

fn config_problem(project: &Project, code: &'static str, message: String) -> Problem {
    let problem = Problem::new(code, message.clone());
    match &project.config_source {
        Some(source) => {
            let span =
                locate(source, &project.restart.run, 0).unwrap_or_else(|| source.span_at(1, 1));
            problem.in_file(source).label(span, message)
        }
        None => problem,
    }
}

/// Vars built from other vars may use only `vars.*` names that exist.
pub(super) fn check_var_templates(project: &Project, loaded: &Loaded<Runbook>) -> Vec<Problem> {
    let env = crate::template::shared();
    let mut raw = project.config_vars.clone();
    raw.extend(
        loaded
            .value
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    raw.extend(
        project
            .explicit_vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    raw.extend(project.cli_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut problems = Vec::new();
    for (name, value) in &raw {
        if !is_template(value) {
            continue;
        }
        let message = match parse_names(env, value, Role::Text) {
            Err(message) => Some(message),
            Ok(names) => {
                names
                    .iter()
                    .find_map(|n| match n.split('.').collect::<Vec<_>>().as_slice() {
                        ["vars", var, ..] if raw.contains_key(*var) && var != name => None,
                        _ => Some(format!(
                            "a var may use only other `vars.*`, and `{n}` is not one"
                        )),
                    })
            }
        };
        if let Some(message) = message {
            let (source, at) = match loaded.value.vars.contains_key(name) {
                true => (&loaded.source, locate(&loaded.source, value, 0)),
                false => (&loaded.source, None),
            };
            let mut problem = Problem::new(
                "runbook::check::var_template",
                format!("var `{name}`: {message}"),
            )
            .in_file(source);
            if let Some(span) = at {
                problem = problem.label(span, message);
            }
            problems.push(problem);
        }
    }
    problems
}
