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

mod active;
mod env_files;
mod files;
mod hosts;
mod inputs;

use active::active_steps;
use env_files::{EnvFiles, read_currents};
use files::check_files;
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
