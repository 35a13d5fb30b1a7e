//! Step templates: syntax, names that are defined (strict undefined, checked before any side
//! effect), step outputs read only after the step ran, and no secret on a command line.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use miette::SourceSpan;

use super::graph::StepGraph;
use super::sites::{Role, Site, step_sites};
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
    let scope = Scope {
        runbook,
        vars: project.vars_checked(runbook),
        graph,
        secrets: secret_names(runbook),
        has_secret_scope: runbook.secret.is_some()
            || runbook.steps.iter().any(|s| s.rotate.is_some()),
    };
    let mut problems = super::var_templates::check_var_templates(project, loaded);
    for (index, step) in runbook.steps.iter().enumerate() {
        let Some(kind) = super::one_kind(step) else {
            continue;
        };
        let step_offset = source.span_of(&step.id.referenced).offset();
        for site in step_sites(step, kind) {
            if !is_template(site.text) && site.role != Role::Expr {
                continue;
            }
            let span = locate(source, site.text, step_offset)
                .unwrap_or_else(|| source.span_of(&step.id.referenced));
            let at_site = |code, message: String| {
                Problem::new(
                    code,
                    format!("step `{}`, `{}`: {message}", step.id.value, site.field),
                )
                .in_file(source)
                .label(span, message)
            };
            match parse_names(env, site.text, site.role) {
                Err(message) => problems.push(at_site("runbook::check::template_syntax", message)),
                Ok(names) => problems.extend(names.iter().filter_map(|name| {
                    let finding = scope.finding(env, name, &site, index)?;
                    let problem = at_site(finding.code, finding.message);
                    Some(match finding.help {
                        Some(help) => problem.help(help),
                        None => problem,
                    })
                })),
            }
        }
    }
    problems
}

/// What the templates of one runbook may read.
struct Scope<'a> {
    runbook: &'a Runbook,
    vars: BTreeMap<String, String>,
    graph: &'a StepGraph,
    secrets: SecretNames,
    /// Whether `secret.*` is defined: in rotation runbooks and in playbooks that rotate.
    has_secret_scope: bool,
}

/// What is wrong with one name a template reads.
struct Finding {
    code: &'static str,
    message: String,
    help: Option<String>,
}

impl Scope<'_> {
    /// What is wrong with `name` where the template at `site` of step `index` reads it.
    fn finding(
        &self,
        env: &minijinja::Environment<'_>,
        name: &str,
        site: &Site<'_>,
        index: usize,
    ) -> Option<Finding> {
        let is_json_expr = site.field.ends_with("expect.json");
        if is_json_expr && (name == "json" || name.starts_with("json.")) {
            return None;
        }
        // minijinja's global functions (`range`, `dict`, `namespace`) are defined.
        let root = name.split('.').next().unwrap_or(name);
        if env.globals().any(|(global, _)| global == root) {
            return None;
        }
        let (runbook, vars) = (self.runbook, &self.vars);
        if let Some(message) = undefined(
            name,
            runbook,
            vars,
            self.graph,
            index,
            self.has_secret_scope,
        ) {
            // A suggestion helps with a misspelling, not with a name used too early.
            let help = if message.contains("add `") {
                None
            } else {
                suggestion(name, runbook, vars)
            };
            return Some(Finding {
                code: "runbook::check::undefined",
                message,
                help,
            });
        }
        (site.role == Role::Argv && self.secrets.is_secret(name)).then(|| Finding {
            code: "runbook::check::secret_in_argv",
            message: format!("`{name}` is a secret and would appear on a command line"),
            help: Some("pass it through `stdin` or `env` instead: command lines are visible to every user of the host".into()),
        })
    }
}

/// The names a template reads, or its syntax error.
pub(super) fn parse_names(
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
