//! Everything checked before the first side effect: inputs (secret ones never literal),
//! operator presence for manual and confirmed steps, env files and keys, and the current
//! values of the secrets involved, registered with the redactor.

use std::collections::{BTreeMap, HashMap};

use crate::diagnostic::Problem;
use crate::envfile::EnvFile;
use crate::model::KindRef;
use crate::plan::{Plan, Work};
use crate::project::{Library, Project};
use crate::redact::Redactor;
use crate::template::{environment, render};

pub struct Prepared {
    pub inputs: BTreeMap<String, String>,
    pub supplied: BTreeMap<String, String>,
    pub currents: HashMap<usize, BTreeMap<String, String>>,
}

struct Declared {
    secret: bool,
    manual: bool,
    default: Option<String>,
}

fn problem(message: impl Into<String>) -> Problem {
    Problem::new("runbook::run::preflight", message)
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

pub fn prepare(
    project: &Project,
    library: &Library,
    plan: &Plan,
    raw_inputs: &[(String, String)],
    interactive: bool,
    yes: bool,
    redactor: &Redactor,
) -> Result<Prepared, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut declared: BTreeMap<String, Declared> = BTreeMap::new();
    let mut runbooks = vec![plan.root];
    runbooks.extend(plan.runbooks.iter().copied().filter(|r| *r != plan.root));
    for &rb in &runbooks {
        for (name, spec) in &library.runbooks[rb].value.inputs {
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
        let step = &library.runbooks[rb].value.steps[si];
        match step.kind() {
            KindRef::Manual(manual) => match &manual.input {
                Some(input) => {
                    declared.entry(input.name.clone()).or_insert(Declared { secret: input.secret, manual: true, default: None });
                }
                None if !interactive && !yes => problems.push(problem(format!(
                    "step `{}` needs an operator to confirm it and there is no terminal: run it on a terminal or pass --yes",
                    node.name
                ))),
                None => {}
            },
            _ if (step.confirm.is_some() || step.irreversible) && !interactive && !yes => problems.push(problem(format!(
                "step `{}` asks for confirmation and there is no terminal: run it on a terminal or pass --yes",
                node.name
            ))),
            _ => {}
        }
    }
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in raw_inputs {
        let Some(decl) = declared.get(name) else {
            let known: Vec<&str> = declared.keys().map(String::as_str).collect();
            problems.push(problem(format!(
                "unknown input `{name}` (this run takes: {})",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
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
                    .help(format!("use `--input {name}=@FILE` or set RUNBOOK_INPUT_{}", name.to_uppercase())),
            );
        } else {
            values.insert(name.clone(), value.clone());
        }
    }
    for (name, decl) in &declared {
        if values.contains_key(name) {
            continue;
        }
        if let Ok(value) = std::env::var(format!(
            "RUNBOOK_INPUT_{}",
            name.to_uppercase().replace('-', "_")
        )) {
            values.insert(name.clone(), value);
        } else if let Some(default) = &decl.default {
            values.insert(name.clone(), default.clone());
        } else if !decl.manual {
            problems.push(problem(format!(
                "input `{name}` is required: pass `--input {name}=VALUE`"
            )));
        } else if !interactive {
            problems.push(problem(format!(
                "input `{name}` is needed and there is no terminal to ask for it: pass `--input {name}=@FILE` or set RUNBOOK_INPUT_{}",
                name.to_uppercase()
            )));
        }
    }
    for (name, value) in &values {
        if declared.get(name).is_some_and(|d| d.secret) {
            redactor.add(value);
        }
    }
    let currents = check_files(project, library, plan, redactor, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let (supplied, inputs): (BTreeMap<_, _>, BTreeMap<_, _>) = values
        .into_iter()
        .partition(|(k, _)| declared.get(k).is_some_and(|d| d.manual));
    Ok(Prepared {
        inputs,
        supplied,
        currents,
    })
}

/// Checks that every env file an env step edits exists and has its keys (unless the step
/// opts in), and reads the current values of every owned secret for the redactor.
fn check_files(
    project: &Project,
    library: &Library,
    plan: &Plan,
    redactor: &Redactor,
    problems: &mut Vec<Problem>,
) -> HashMap<usize, BTreeMap<String, String>> {
    let env = environment();
    let file_of = |rb: usize, file: Option<&String>| -> Option<std::path::PathBuf> {
        let runbook = &library.runbooks[rb].value;
        let text = file
            .cloned()
            .or_else(|| runbook.secret.as_ref().and_then(|s| s.file.clone()))
            .unwrap_or_else(|| "{{ vars.env_file }}".into());
        let ctx = minijinja::context! { vars => project.vars_for(runbook) };
        render(&env, &text, &ctx).ok().map(|p| project.resolve(&p))
    };
    let read = |path: &std::path::Path| -> Result<EnvFile, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read env file `{}`: {e}", path.display()))?;
        EnvFile::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    };
    for node in &plan.nodes {
        let Work::Step(rb, si) = node.work else {
            continue;
        };
        let KindRef::Env(spec) = library.runbooks[rb].value.steps[si].kind() else {
            continue;
        };
        let Some(path) = file_of(rb, spec.file.as_ref()) else {
            continue;
        };
        if spec.create && !path.exists() {
            continue;
        }
        match read(&path) {
            Ok(file) => {
                for key in spec.set.keys() {
                    if file.get(key).is_none() && !spec.append {
                        problems.push(problem(format!(
                            "step `{}`: key `{key}` is not in `{}` (set `append: true` to add it)",
                            node.name,
                            path.display()
                        )));
                    }
                }
            }
            Err(message) => problems.push(problem(format!("step `{}`: {message}", node.name))),
        }
    }
    // Every value the library's secrets hold now is masked in all output, not only those
    // this run rotates: a child may print any of them.
    let mut currents = HashMap::new();
    for (rb, loaded) in library.runbooks.iter().enumerate() {
        let Some(secret) = &loaded.value.secret else {
            continue;
        };
        let Some(path) = file_of(rb, None) else {
            continue;
        };
        let Ok(file) = read(&path) else { continue };
        let mut values = BTreeMap::new();
        for name in &secret.env {
            if let Some(value) = file.get(&name.value) {
                redactor.add(&value);
                values.insert(name.value.clone(), value);
            }
        }
        currents.insert(rb, values);
    }
    currents
}
