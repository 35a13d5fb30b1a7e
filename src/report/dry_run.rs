//! `run --dry-run`: what each step would do, with env edits shown as a diff. Steps whose
//! `when` preflight found false are marked skipped and list no edit. Secret values are masked;
//! a variable the secret declares public is shown, old and new, where the new one is known
//! before the run. Nothing is changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use serde::Serialize;

use crate::checked::Library;
use crate::checked::StepKind;
use crate::checked::{RunbookIx, StepIx};
use crate::envfile::EnvFile;
use crate::model::EnvSpec;
use crate::plan::{Plan, Work};
use crate::project::Project;
use crate::redact::{MASK, Redactor};
use crate::template::environment;

/// What preflight learned: the steps that may run and the secrets' current values.
pub(crate) struct Preflight<'a> {
    pub active: &'a BTreeSet<(RunbookIx, StepIx)>,
    pub currents: &'a HashMap<RunbookIx, BTreeMap<String, String>>,
}

/// One env edit a dry run shows: the file, and each key set, added or removed.
#[derive(Serialize)]
pub(crate) struct EditView {
    pub step: String,
    pub file: String,
    pub changes: Vec<ChangeView>,
}

/// One key of an edit. `old` and `new` are the mask unless the secret declares the key
/// public; `old` is absent for a key the edit adds, both for one it removes.
#[derive(Serialize)]
pub(crate) struct ChangeView {
    pub key: String,
    /// `set` (an existing line changes), `add` (a new line) or `unset`.
    pub op: &'static str,
    pub line: Option<usize>,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// `run --dry-run --format json`: the plan as `plan --format json` shows it, and the edits.
#[derive(Serialize)]
struct DryRunView<'a> {
    dry_run: bool,
    plan: &'a super::plan::PlanView<'a>,
    edits: &'a [EditView],
}

/// The dry run for people: the plan, then each env edit as a diff.
pub(crate) fn render(
    project: &Project,
    library: &Library,
    plan: &Plan,
    given: &BTreeMap<String, String>,
    preflight: &Preflight<'_>,
    redactor: &Redactor,
) -> String {
    let (view, edits) = preview(project, library, plan, given, preflight);
    let mut out = String::from("dry run: nothing will be changed\n\n");
    out.push_str(&super::plan::text(&view));
    let mut diffs = String::new();
    for edit in edits {
        let _ = writeln!(diffs, "{} — {}", edit.step, edit.file);
        for change in &edit.changes {
            let (old, new) = (
                change.old.as_deref().unwrap_or(MASK),
                change.new.as_deref().unwrap_or(MASK),
            );
            let _ = match (change.op, change.line) {
                ("unset", _) => writeln!(diffs, "  - {}", change.key),
                (_, Some(line)) => {
                    writeln!(diffs, "  ~ {} (line {line}): {old} -> {new}", change.key)
                }
                (_, None) => writeln!(diffs, "  + {}: {new}", change.key),
            };
        }
    }
    if !diffs.is_empty() {
        let _ = writeln!(
            out,
            "\nenv edits (secret values masked; public ones shown):\n{diffs}"
        );
    }
    redactor.redact(&out)
}

/// The dry run for tools: one JSON document, `{"dry_run": true, "plan": ..., "edits": [...]}`.
pub(crate) fn json(
    project: &Project,
    library: &Library,
    plan: &Plan,
    given: &BTreeMap<String, String>,
    preflight: &Preflight<'_>,
    redactor: &Redactor,
) -> String {
    let (view, edits) = preview(project, library, plan, given, preflight);
    let document = DryRunView {
        dry_run: true,
        plan: &view,
        edits: &edits,
    };
    let mut text = serde_json::to_string_pretty(&document)
        .expect("a dry run view always serialises; this is a bug");
    text.push('\n');
    redactor.redact(&text)
}

/// What both renderings show: the plan as preflight knows it, and the env edits.
fn preview<'a>(
    project: &'a Project,
    library: &'a Library,
    plan: &'a Plan,
    given: &BTreeMap<String, String>,
    preflight: &Preflight<'_>,
) -> (super::plan::PlanView<'a>, Vec<EditView>) {
    let known = super::plan::Known {
        active: Some(preflight.active),
        currents: preflight.currents,
    };
    let view = super::plan::view_known(project, library, plan, given, Some(&known));
    (view, edits(project, library, plan, given, preflight))
}

/// The env edits of the steps that may run, in plan order.
fn edits(
    project: &Project,
    library: &Library,
    plan: &Plan,
    given: &BTreeMap<String, String>,
    preflight: &Preflight<'_>,
) -> Vec<EditView> {
    let mut edits = Vec::new();
    let env = environment();
    for node in &plan.nodes {
        let Work::Step(rb, si) = node.work else {
            continue;
        };
        // A host's files are read over SSH only by the run itself: a dry run connects to
        // nothing, and its plan lists those edits per host.
        if !preflight.active.contains(&(rb, si)) || node.host.is_some() {
            continue;
        }
        let runbook = library.runbook(rb);
        let StepKind::Env(spec) = &runbook.step(si).kind else {
            continue;
        };
        let text = runbook.env_file_text(spec.file.as_ref());
        let inputs: BTreeMap<&String, &String> = given
            .iter()
            .filter(|(k, _)| runbook.inputs.get(*k).is_some_and(|i| !i.secret))
            .chain(
                runbook
                    .inputs
                    .iter()
                    .filter(|(k, i)| !i.secret && !given.contains_key(*k))
                    .filter_map(|(k, i)| Some((k, i.default.as_ref()?))),
            )
            .collect();
        let ctx = minijinja::context! { vars => project.vars_for(&runbook.vars), inputs => crate::template::value_of(inputs) };
        let Ok(rendered) = crate::template::render(&env, text, &ctx) else {
            continue;
        };
        let path = project.resolve(&rendered);
        let file = std::fs::read(&path)
            .ok()
            .and_then(|b| EnvFile::parse_owned(b).ok());
        let public = |key: &str| {
            runbook
                .secret
                .as_ref()
                .is_some_and(|s| s.public.iter().any(|p| p == key))
        };
        let render_new = |value: &str| {
            crate::template::render(&env, value, &ctx)
                .unwrap_or_else(|_| "(known at run time)".into())
        };
        let changes = changes(spec, file.as_ref(), &public, &render_new);
        edits.push(EditView {
            step: node.name.clone(),
            file: path.display().to_string(),
            changes,
        });
    }
    edits
}

/// Each key an edit sets, adds or removes. A public value is shown; its new value only when
/// vars and inputs decide it (one taken from a step's output is known only at run time).
fn changes(
    spec: &EnvSpec,
    file: Option<&EnvFile>,
    public: &dyn Fn(&str) -> bool,
    render_new: &dyn Fn(&str) -> String,
) -> Vec<ChangeView> {
    let mut changes = Vec::new();
    for (key, value) in &spec.set {
        let (old, new) = if public(key) {
            (file.and_then(|f| f.get(key)), render_new(value))
        } else {
            (Some(MASK.to_string()), MASK.to_string())
        };
        let line = file.and_then(|f| f.line_of(key));
        changes.push(ChangeView {
            key: key.clone(),
            op: if line.is_some() { "set" } else { "add" },
            line,
            old: if line.is_some() { old } else { None },
            new: Some(new),
        });
    }
    for key in &spec.unset {
        changes.push(ChangeView {
            key: key.clone(),
            op: "unset",
            line: file.and_then(|f| f.line_of(key)),
            old: None,
            new: None,
        });
    }
    changes
}
