//! `run --dry-run`: what each step would do, with env edits shown as a diff. Steps whose
//! `when` preflight found false are marked skipped and list no edit. Secret values are masked;
//! a variable the secret declares public is shown, old and new, where the new one is known
//! before the run. Nothing is changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use crate::envfile::EnvFile;
use crate::model::KindRef;
use crate::plan::{Plan, Work};
use crate::project::{Library, Project};
use crate::redact::{MASK, Redactor};
use crate::template::environment;

/// What preflight learned: the steps that may run and the secrets' current values.
pub(crate) struct Preflight<'a> {
    pub active: &'a BTreeSet<(usize, usize)>,
    pub currents: &'a HashMap<usize, BTreeMap<String, String>>,
}

pub(crate) fn render(
    project: &Project,
    library: &Library,
    plan: &Plan,
    given: &BTreeMap<String, String>,
    preflight: &Preflight<'_>,
    redactor: &Redactor,
) -> String {
    let known = super::plan::Known {
        active: Some(preflight.active),
        currents: preflight.currents,
    };
    let view = super::plan::view_known(project, library, plan, given, Some(&known));
    let mut out = String::from("dry run: nothing will be changed\n\n");
    out.push_str(&super::plan::text(&view));
    let mut diffs = String::new();
    let env = environment();
    for node in &plan.nodes {
        let Work::Step(rb, si) = node.work else {
            continue;
        };
        if !preflight.active.contains(&(rb, si)) {
            continue;
        }
        let runbook = &library.runbooks[rb].value;
        let KindRef::Env(spec) = runbook.steps[si].kind() else {
            continue;
        };
        let text = spec
            .file
            .clone()
            .or_else(|| runbook.secret.as_ref().and_then(|s| s.file.clone()))
            .unwrap_or_else(|| "{{ vars.env_file }}".into());
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
        let ctx = minijinja::context! { vars => project.vars_for(runbook), inputs => crate::template::value_of(inputs) };
        let Ok(rendered) = crate::template::render(&env, &text, &ctx) else {
            continue;
        };
        let path = project.resolve(&rendered);
        let _ = writeln!(diffs, "{} — {}", node.name, path.display());
        let file = std::fs::read(&path)
            .ok()
            .and_then(|b| EnvFile::parse_owned(b).ok());
        let public = |key: &str| {
            runbook
                .secret
                .as_ref()
                .is_some_and(|s| s.public.iter().any(|p| p == key))
        };
        for (key, value) in &spec.set {
            // A public value is shown; its new value only when vars and inputs decide it (one
            // taken from a step's output is known only at run time).
            let (old, new) = if public(key) {
                let new = crate::template::render(&env, value, &ctx)
                    .unwrap_or_else(|_| "(known at run time)".into());
                (file.as_ref().and_then(|f| f.get(key)), new)
            } else {
                (None, MASK.to_string())
            };
            match file.as_ref().and_then(|f| f.line_of(key)) {
                Some(line) => {
                    let old = old.unwrap_or_else(|| MASK.to_string());
                    let _ = writeln!(diffs, "  ~ {key} (line {line}): {old} -> {new}");
                }
                None => {
                    let _ = writeln!(diffs, "  + {key}: {new}");
                }
            }
        }
        for key in &spec.unset {
            let _ = writeln!(diffs, "  - {key}");
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
