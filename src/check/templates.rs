//! Templates: syntax, names that are defined (strict undefined, checked before any side
//! effect), step outputs read only after the step ran, and no secret on a command line.

use std::collections::HashSet;
use std::sync::Arc;

use miette::SourceSpan;

use super::graph::StepGraph;
use super::sites::{Role, step_sites};
use crate::diagnostic::{Problem, SourceFile, did_you_mean};
use crate::load::Loaded;
use crate::model::{KindRef, Runbook, Step};
use crate::project::Project;
use crate::template::is_template;

/// The template names whose values are secrets, for one runbook.
#[derive(Default)]
pub(crate) struct SecretNames {
    steps: HashSet<String>,
    inputs: HashSet<String>,
}

impl SecretNames {
    /// Whether a dotted name (as minijinja reports it: `steps.new.value`) reaches a secret.
    pub(crate) fn is_secret(&self, name: &str) -> bool {
        let mut parts = name.split('.');
        match (parts.next(), parts.next()) {
            (Some("secret"), None | Some("current" | "values")) => true,
            (Some("steps"), Some(id)) => self.steps.contains(id),
            (Some("steps"), None) => !self.steps.is_empty(),
            (Some("inputs"), Some(input)) => self.inputs.contains(input),
            (Some("inputs"), None) => !self.inputs.is_empty(),
            _ => false,
        }
    }
}

/// Step outputs and inputs that hold secrets: generated values, previous env values and
/// secret operator input.
pub(crate) fn secret_names(runbook: &Runbook) -> SecretNames {
    let mut names = SecretNames::default();
    for step in &runbook.steps {
        let secret = match step.kinds().first() {
            Some(KindRef::Generate(_) | KindRef::Env(_)) => true,
            Some(KindRef::Manual(m)) => m.input.as_ref().is_some_and(|i| i.secret),
            _ => false,
        };
        if secret {
            names.steps.insert(step.id.value.clone());
        }
    }
    names.inputs = runbook
        .inputs
        .iter()
        .filter(|(_, i)| i.secret)
        .map(|(k, _)| k.clone())
        .collect();
    names
}

/// What a step of each kind outputs, as `steps.<id>.<output>`.
fn outputs_of(step: &Step) -> &'static [&'static str] {
    match step.kinds().first() {
        Some(KindRef::Generate(_)) => &["value"],
        Some(KindRef::Exec(_)) => &["stdout", "stderr", "exit", "json"],
        Some(KindRef::Env(_)) => &["previous"],
        Some(KindRef::Manual(_)) => &["input"],
        Some(KindRef::Report(_)) => &["path"],
        _ => &[],
    }
}

const ROOTS: &[&str] = &["vars", "inputs", "steps", "secret", "run"];
const RUN_FIELDS: &[&str] = &["id", "started", "mode", "secret"];
const SECRET_FIELDS: &[&str] = &["id", "current", "values", "env", "file"];

pub(super) fn check_templates(
    project: &Project,
    loaded: &Loaded<Runbook>,
    graph: &StepGraph,
) -> Vec<Problem> {
    let runbook = &loaded.value;
    let source = &loaded.source;
    let env = crate::template::shared();
    let vars = project.vars_for(&runbook.vars);
    let secrets = secret_names(runbook);
    let has_secret_scope =
        runbook.secret.is_some() || runbook.steps.iter().any(|s| s.rotate.is_some());
    let mut problems = check_var_templates(project, loaded);
    for (index, step) in runbook.steps.iter().enumerate() {
        let Some(kind) = super::one_kind(step) else {
            continue;
        };
        let step_offset = source.span_of(&step.id.referenced).offset();
        for site in step_sites(step, kind) {
            if !is_template(site.text) && site.role != Role::Expr {
                continue;
            }
            let at = locate(source, site.text, step_offset);
            let names = match parse_names(env, site.text, site.role) {
                Ok(names) => names,
                Err(message) => {
                    let span = at.unwrap_or_else(|| source.span_of(&step.id.referenced));
                    problems.push(
                        Problem::new(
                            "runbook::check::template_syntax",
                            format!("step `{}`, `{}`: {message}", step.id.value, site.field),
                        )
                        .in_file(source)
                        .label(span, message),
                    );
                    continue;
                }
            };
            let label_span = at.unwrap_or_else(|| source.span_of(&step.id.referenced));
            let is_json_expr = site.field.ends_with("expect.json");
            for name in names {
                let problem = |code, message: String, help: Option<String>| {
                    let mut p = Problem::new(
                        code,
                        format!("step `{}`, `{}`: {message}", step.id.value, site.field),
                    )
                    .in_file(source)
                    .label(label_span, message.clone());
                    if let Some(help) = help {
                        p = p.help(help);
                    }
                    p
                };
                if is_json_expr && (name == "json" || name.starts_with("json.")) {
                    continue;
                }
                // minijinja's global functions (`range`, `dict`, `namespace`) are defined.
                let root = name.split('.').next().unwrap_or(&name);
                if env.globals().any(|(global, _)| global == root) {
                    continue;
                }
                if let Some(message) =
                    undefined(&name, runbook, &vars, graph, index, has_secret_scope)
                {
                    // A suggestion helps with a misspelling, not with a name used too early.
                    let help = if message.contains("add `") {
                        None
                    } else {
                        suggestion(&name, runbook, &vars)
                    };
                    problems.push(problem("runbook::check::undefined", message, help));
                    continue;
                }
                if site.role == Role::Argv && secrets.is_secret(&name) {
                    problems.push(problem(
                        "runbook::check::secret_in_argv",
                        format!("`{name}` is a secret and would appear on a command line"),
                        Some("pass it through `stdin` or `env` instead: command lines are visible to every user of the host".into()),
                    ));
                }
            }
        }
    }
    problems
}

/// The names a template reads, or its syntax error.
fn parse_names(
    env: &minijinja::Environment<'_>,
    text: &str,
    role: Role,
) -> Result<Vec<String>, String> {
    let to_problem =
        |e: &minijinja::Error| crate::template::TemplateError::from_minijinja(e).message;
    let mut names: Vec<String> = if role == Role::Expr {
        env.compile_expression(text)
            .map_err(|e| to_problem(&e))?
            .undeclared_variables(true)
            .into_iter()
            .collect()
    } else {
        env.template_from_str(text)
            .map_err(|e| to_problem(&e))?
            .undeclared_variables(true)
            .into_iter()
            .collect()
    };
    names.sort();
    Ok(names)
}

/// Why a name is undefined for this step, if it is.
fn undefined(
    name: &str,
    runbook: &Runbook,
    vars: &std::collections::BTreeMap<String, String>,
    graph: &StepGraph,
    index: usize,
    has_secret_scope: bool,
) -> Option<String> {
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        ["vars", var, ..] if !vars.contains_key(*var) => {
            Some(format!("undefined variable `vars.{var}`"))
        }
        ["inputs", input, ..] if !runbook.inputs.contains_key(*input) => Some(format!(
            "undefined input `inputs.{input}` (declare it under `inputs:`)"
        )),
        ["steps", id, rest @ ..] => {
            let Some(&target) = graph.index.get(*id) else {
                return Some(format!("`steps.{id}` is not a step of this runbook"));
            };
            let before = graph.needs_transitively(index, target);
            if target != index && !before {
                return Some(format!(
                    "`steps.{id}` is read before it runs: add `{id}` to `needs`"
                ));
            }
            let outputs = outputs_of(&runbook.steps[target]);
            match rest.first() {
                Some(output) if !outputs.contains(output) => Some(format!(
                    "step `{id}` has no output `{output}` (it has: {})",
                    if outputs.is_empty() {
                        "none".to_string()
                    } else {
                        outputs.join(", ")
                    }
                )),
                _ => None,
            }
        }
        ["secret", ..] if !has_secret_scope => {
            Some("`secret` is only defined in rotation runbooks".into())
        }
        ["secret", field, ..] if !SECRET_FIELDS.contains(field) => {
            Some(format!("`secret` has no field `{field}`"))
        }
        ["run", field, ..] if !RUN_FIELDS.contains(field) => {
            Some(format!("`run` has no field `{field}`"))
        }
        [root, ..] if !ROOTS.contains(root) => Some(format!("undefined name `{root}`")),
        _ => None,
    }
}

fn suggestion(
    name: &str,
    runbook: &Runbook,
    vars: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    let parts: Vec<&str> = name.split('.').collect();
    let candidate = match parts.as_slice() {
        ["vars", var, ..] => {
            did_you_mean(var, vars.keys().map(String::as_str)).map(|s| format!("vars.{s}"))
        }
        ["inputs", input, ..] => did_you_mean(input, runbook.inputs.keys().map(String::as_str))
            .map(|s| format!("inputs.{s}")),
        ["steps", id, ..] => did_you_mean(id, runbook.steps.iter().map(|s| s.id.value.as_str()))
            .map(|s| format!("steps.{s}")),
        [root, ..] => did_you_mean(root, ROOTS.iter().copied()).map(str::to_string),
        [] => None,
    };
    candidate.map(|c| format!("did you mean `{c}`?"))
}

/// Finds the template text in the file, starting at its step, to label it exactly.
pub(super) fn locate(source: &Arc<SourceFile>, text: &str, from: usize) -> Option<SourceSpan> {
    let haystack = source.text.get(from..)?;
    let needle = text.lines().next().filter(|l| !l.is_empty())?;
    let needle = if text.contains('\n') {
        needle.trim()
    } else {
        needle
    };
    haystack
        .find(needle)
        .map(|i| SourceSpan::new((from + i).into(), needle.len()))
}

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
                !project.config_vars.contains_key(*var) && !project.cli_vars.contains_key(*var)
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
fn check_var_templates(project: &Project, loaded: &Loaded<Runbook>) -> Vec<Problem> {
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
