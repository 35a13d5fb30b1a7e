//! Everything checked before the first side effect: inputs (secret ones never literal),
//! operator presence for manual and confirmed steps, env files and keys, and the current
//! values of the secrets involved, registered with the redactor.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::checked::Library;
use crate::checked::{RunbookIx, StepIx};
use crate::checked::{Step, StepKind};
use crate::diagnostic::Problem;
use crate::envfile::EnvFile;
use crate::exec::session::Fleet;
use crate::plan::{Plan, PlanNode, Work};
use crate::project::Project;
use crate::redact::Redactor;
use crate::template::render;

mod hosts;
mod inputs;

use inputs::{declarations, gather_inputs};

pub(crate) struct Prepared {
    pub inputs: BTreeMap<String, String>,
    pub supplied: BTreeMap<String, String>,
    pub currents: HashMap<RunbookIx, BTreeMap<String, String>>,
    /// The steps that may run: a `when` already false from vars, inputs and the secret's
    /// current values leaves its step out (a dry run lists only these).
    pub active: BTreeSet<(RunbookIx, StepIx)>,
    /// Every file an env or file step of the run may rewrite.
    pub edited: BTreeSet<std::path::PathBuf>,
    /// The hosts the plan acts on, connected where preflight reached them.
    pub hosts: Fleet,
    /// The env files read here, parsed: an edit that finds one unchanged need not parse it.
    pub parsed: Vec<EnvFile>,
}

fn problem(message: impl Into<String>) -> Problem {
    Problem::new("runbook::run::preflight", message)
}

/// Who can answer: a terminal, `--yes` (confirmations only), or nobody needed (a dry run).
#[derive(Clone, Copy)]
pub(crate) struct Presence {
    pub interactive: bool,
    pub yes: bool,
    pub dry_run: bool,
}

pub(crate) fn prepare(
    project: &Project,
    library: &Library,
    plan: &Plan,
    raw_inputs: &[(String, String)],
    presence: Presence,
    redactor: &Redactor,
) -> Result<Prepared, Vec<Problem>> {
    let Presence {
        interactive,
        yes,
        dry_run,
    } = presence;
    let mut problems = Vec::new();
    let declared = declarations(library, plan);
    let values = gather_inputs(raw_inputs, &declared, &mut problems);
    let files = EnvFiles::new(project, library);
    let currents = read_currents(library, &files, redactor);
    // Steps whose `when` is already false from vars, inputs and the current values need
    // nothing from anyone, and their env edits need no key.
    let active = active_steps(project, library, plan, &values, &currents);
    // A manual step needs no check here: with nobody at a terminal it waits for the operator
    // (exit 3, resumable). A required input with nobody to type it is refused now, before any
    // side effect; a confirmation needs a terminal or `--yes`. A dry run asks nothing.
    for (node, _, step) in active_nodes(plan, library, &active).filter(|_| !dry_run) {
        let operator = match &step.kind {
            StepKind::Manual(manual) => match &manual.input {
                Some(input)
                    if !input.optional && !values.contains_key(&input.name) && !interactive =>
                {
                    Some(format!(
                        "input `{}` is needed and there is no terminal to ask for it: pass `--input {}=@FILE` or set {}",
                        input.name,
                        input.name,
                        crate::model::input_variable(&input.name)
                    ))
                }
                _ => None,
            },
            _ => None,
        };
        let confirms = (step.confirm.is_some() || step.irreversible) && !interactive && !yes;
        let confirm = confirms.then(|| {
            format!("step `{}` asks for confirmation and there is no terminal: run it on a terminal or pass --yes", node.name)
        });
        problems.extend(operator.into_iter().chain(confirm).map(problem));
    }
    for (name, decl) in &declared {
        if !decl.manual && !values.contains_key(name) {
            problems.push(problem(format!(
                "input `{name}` is required: pass `--input {name}=VALUE`"
            )));
        }
    }
    for (name, value) in &values {
        if declared.get(name).is_some_and(|d| d.secret) {
            redactor.add(value);
        }
    }
    let edited = check_files(project, library, plan, &active, &files, &mut problems);
    let hosts = fleet(project, plan, &mut problems);
    if problems.is_empty() {
        // Only a run that could otherwise start reaches out to its hosts.
        problems.extend(hosts::check_host_files(
            project, library, plan, &active, &hosts,
        ));
    }
    check_intervals(project, library, plan, &active, &values, &mut problems);
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
        active,
        edited,
        hosts,
        parsed: files.into_parsed(),
    })
}

/// The hosts the plan acts on; none connects yet.
fn fleet(project: &Project, plan: &Plan, problems: &mut Vec<Problem>) -> Fleet {
    crate::exec::session::fleet_hosts(project, plan).unwrap_or_else(|e| {
        problems.push(problem(format!("cannot reach the hosts: {e}")));
        Fleet::default()
    })
}

/// The current values a retire phase reads, the files it may rewrite, and its hosts.
pub(crate) type Retiring = (
    HashMap<RunbookIx, BTreeMap<String, String>>,
    BTreeSet<std::path::PathBuf>,
    Fleet,
);

/// What a retire phase needs before it acts: the env files its steps edit, here and on its
/// hosts (checked as for a run), and the current values of the library's secrets, read now —
/// the retire phase's `secret.values` (an old value that still verifies is in the env file
/// itself, so nothing of it was kept between the phases).
pub(crate) fn prepare_retire(
    project: &Project,
    library: &Library,
    plan: &Plan,
    redactor: &Redactor,
) -> Result<Retiring, Vec<Problem>> {
    let files = EnvFiles::new(project, library);
    let currents = read_currents(library, &files, redactor);
    let retiring: BTreeSet<(RunbookIx, StepIx)> = plan
        .nodes
        .iter()
        .filter(|n| n.phase == crate::model::Phase::Retire)
        .flat_map(PlanNode::steps)
        .collect();
    let mut problems = Vec::new();
    let edited = check_files(project, library, plan, &retiring, &files, &mut problems);
    let hosts = fleet(project, plan, &mut problems);
    if problems.is_empty() {
        problems.extend(hosts::check_host_files(
            project, library, plan, &retiring, &hosts,
        ));
    }
    if problems.is_empty() {
        Ok((currents, edited, hosts))
    } else {
        Err(problems)
    }
}

/// The plan's step nodes among `active`, with their runbook's index and their step.
fn active_nodes<'a>(
    plan: &'a Plan,
    library: &'a Library,
    active: &'a BTreeSet<(RunbookIx, StepIx)>,
) -> impl Iterator<Item = (&'a PlanNode, RunbookIx, &'a Step)> {
    plan.nodes.iter().filter_map(move |node| match node.work {
        Work::Step(rb, si) if active.contains(&(rb, si)) => {
            Some((node, rb, library.runbook(rb).step(si)))
        }
        _ => None,
    })
}

/// The steps that may run: those without `when`, and those whose `when` reads step outputs or
/// is true given vars, inputs, `run.mode` and the runbook's own secret (`secret.id`,
/// `secret.current`, `secret.values`, read before the run). A `when` that reads outputs is
/// decided at run time.
fn active_steps(
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

/// The env files preflight reads, each read and parsed once: most runbooks share one.
struct EnvFiles<'a> {
    project: &'a Project,
    library: &'a Library,
    cache: std::cell::RefCell<HashMap<std::path::PathBuf, std::rc::Rc<Result<EnvFile, String>>>>,
}

impl<'a> EnvFiles<'a> {
    fn new(project: &'a Project, library: &'a Library) -> Self {
        Self {
            project,
            library,
            cache: std::cell::RefCell::default(),
        }
    }

    /// The file an env step of runbook `rb` edits: its own `file`, else the secret's, else
    /// `vars.env_file`.
    fn file_of(&self, rb: RunbookIx, file: Option<&String>) -> Option<std::path::PathBuf> {
        let runbook = self.library.runbook(rb);
        let ctx = minijinja::context! { vars => self.project.vars_for(&runbook.vars) };
        render(crate::template::shared(), runbook.env_file_text(file), &ctx)
            .ok()
            .map(|p| self.project.resolve(&p))
    }

    /// The files that parsed, given up for the steps (see `envfile::Parsed`).
    fn into_parsed(self) -> Vec<EnvFile> {
        self.cache
            .into_inner()
            .into_values()
            .filter_map(|parsed| match std::rc::Rc::try_unwrap(parsed) {
                Ok(parsed) => parsed.ok(),
                Err(shared) => shared.as_ref().as_ref().ok().cloned(),
            })
            .collect()
    }

    fn read(&self, path: &std::path::Path) -> std::rc::Rc<Result<EnvFile, String>> {
        if let Some(parsed) = self.cache.borrow().get(path) {
            return std::rc::Rc::clone(parsed);
        }
        let parsed = std::fs::read(path)
            .map_err(|e| format!("cannot read env file `{}`: {e}", path.display()))
            .and_then(|bytes| {
                EnvFile::parse_owned(bytes).map_err(|e| format!("{}: {e}", path.display()))
            });
        let parsed = std::rc::Rc::new(parsed);
        self.cache
            .borrow_mut()
            .insert(path.to_path_buf(), std::rc::Rc::clone(&parsed));
        parsed
    }
}

/// Reads the current value of every variable the library's secrets own, and registers the
/// secret ones with the redactor: every value the library's secrets hold now is masked in
/// all output, not only those this run rotates, since a child may print any of them.
fn read_currents(
    library: &Library,
    files: &EnvFiles<'_>,
    redactor: &Redactor,
) -> HashMap<RunbookIx, BTreeMap<String, String>> {
    let mut currents = HashMap::new();
    let mut masked: Vec<String> = Vec::new();
    for (rb, runbook) in library.indexed() {
        // A secret that lives on inventory hosts has no value here: `secret.current` is
        // undefined for it, rather than read from a file of this machine.
        let (Some(secret), None) = (&runbook.secret, &runbook.on) else {
            continue;
        };
        let Ok(path) = runbook.secret_file(files.project) else {
            continue;
        };
        let parsed = files.read(&path);
        let Ok(file) = parsed.as_ref() else { continue };
        let mut values = BTreeMap::new();
        for name in &secret.env {
            if let Some(value) = file.get(&name.value) {
                if !secret.public.contains(&name.value) {
                    masked.push(value.clone());
                }
                values.insert(name.value.clone(), value);
            }
        }
        currents.insert(rb, values);
    }
    // One rebuild of the redactor's matcher for all of them.
    redactor.add_all(masked.iter().map(String::as_str));
    currents
}

/// Checks that every env file an env step edits exists and has its keys (unless the step
/// opts in), and that every file a step rewrites can keep its owner; returns those files.
fn check_files(
    project: &Project,
    library: &Library,
    plan: &Plan,
    active: &BTreeSet<(RunbookIx, StepIx)>,
    files: &EnvFiles<'_>,
    problems: &mut Vec<Problem>,
) -> BTreeSet<std::path::PathBuf> {
    let env = crate::template::shared();
    let mut edited = BTreeSet::new();
    // A host's files are checked over SSH by `hosts.rs`.
    for (node, rb, step) in active_nodes(plan, library, active).filter(|(n, ..)| n.host.is_none()) {
        if let StepKind::File(spec) = &step.kind {
            let ctx = minijinja::context! { vars => project.vars_for(&library.runbook(rb).vars) };
            if let Ok(path) = render(env, &spec.path, &ctx) {
                let path = project.resolve(&path);
                let replacing = crate::atomic::replacing(&path);
                if let Some(message) = &replacing.ownership {
                    problems.push(problem(format!("step `{}`: {message}", node.name)));
                }
                check_replaceable(&node.name, &path, replacing, &edited, problems);
                edited.insert(path);
            }
        }
        let StepKind::Env(spec) = &step.kind else {
            continue;
        };
        let Some(path) = files.file_of(rb, spec.file.as_ref()) else {
            continue;
        };
        let replacing = crate::atomic::replacing(&path);
        let ownership = replacing.ownership.clone();
        check_replaceable(&node.name, &path, replacing, &edited, problems);
        edited.insert(path.clone());
        // Checked before anything runs: a rewrite that cannot keep the file's owner and group
        // is refused mid-run otherwise (see `atomic::write_atomic`).
        if let Some(message) = ownership {
            problems.push(problem(format!("step `{}`: {message}", node.name)));
            continue;
        }
        if spec.create && !path.exists() {
            continue;
        }
        match files.read(&path).as_ref() {
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
    edited
}

/// Refuses a file that cannot be replaced (immutable, append-only) before anything runs,
/// and warns once about a read-only one, which the edit replaces anyway.
fn check_replaceable(
    step: &str,
    path: &std::path::Path,
    replacing: crate::atomic::Replacing,
    seen: &BTreeSet<std::path::PathBuf>,
    problems: &mut Vec<Problem>,
) {
    if let Some(message) = replacing.blocked {
        problems.push(problem(format!("step `{step}`: {message}")));
    } else if !seen.contains(path)
        && let Some(warning) = replacing.read_only
    {
        tracing::warn!("{warning}");
    }
}

/// A templated `interval` (`"{{ vars.retry_interval }}"`) must render to a duration: checked
/// here, before anything changes, rather than when the step first fails and waits.
fn check_intervals(
    project: &Project,
    library: &Library,
    plan: &Plan,
    active: &BTreeSet<(RunbookIx, StepIx)>,
    values: &BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
) {
    let env = crate::template::shared();
    for (node, rb, step) in active_nodes(plan, library, active) {
        let verify = match &step.kind {
            StepKind::Verify(spec) => spec.interval.as_ref(),
            _ => None,
        };
        for interval in step.interval.iter().chain(verify) {
            let runbook = library.runbook(rb);
            let inputs: BTreeMap<&String, &String> = values
                .iter()
                .filter(|(k, _)| runbook.inputs.contains_key(*k))
                .collect();
            let ctx = minijinja::context! { vars => project.vars_for(&runbook.vars), inputs => crate::template::value_of(inputs) };
            if let Err(message) =
                interval.resolve(|text| render(env, text, &ctx).map_err(|e| e.message))
            {
                problems.push(problem(format!("step `{}`: {message}", node.name)));
            }
        }
    }
}
