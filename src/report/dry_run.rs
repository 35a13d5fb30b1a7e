//! `run --dry-run`: what each step would do, with env edits shown as a diff whose values are
//! masked. Nothing is changed.

use std::fmt::Write;

use crate::envfile::EnvFile;
use crate::model::KindRef;
use crate::plan::{Plan, Work};
use crate::project::{Library, Project};
use crate::redact::{MASK, Redactor};
use crate::template::environment;

pub fn render(
    project: &Project,
    library: &Library,
    plan: &Plan,
    given: &std::collections::BTreeMap<String, String>,
    redactor: &Redactor,
) -> String {
    let view = super::plan::view(project, library, plan, given);
    let mut out = String::from("dry run: nothing will be changed\n\n");
    out.push_str(&super::plan::text(&view));
    let mut diffs = String::new();
    for node in &plan.nodes {
        let Work::Step(rb, si) = node.work else {
            continue;
        };
        let runbook = &library.runbooks[rb].value;
        let KindRef::Env(spec) = runbook.steps[si].kind() else {
            continue;
        };
        let text = spec
            .file
            .clone()
            .or_else(|| runbook.secret.as_ref().and_then(|s| s.file.clone()))
            .unwrap_or_else(|| "{{ vars.env_file }}".into());
        let ctx = minijinja::context! { vars => project.vars_for(runbook) };
        let Ok(rendered) = crate::template::render(&environment(), &text, &ctx) else {
            continue;
        };
        let path = project.resolve(&rendered);
        let _ = writeln!(diffs, "{} — {}", node.name, path.display());
        let file = std::fs::read(&path)
            .ok()
            .and_then(|b| EnvFile::parse_owned(b).ok());
        for key in spec.set.keys() {
            match file.as_ref().and_then(|f| f.line_of(key)) {
                Some(line) => {
                    let _ = writeln!(diffs, "  ~ {key} (line {line}): {MASK} -> {MASK}");
                }
                None => {
                    let _ = writeln!(diffs, "  + {key}: {MASK}");
                }
            }
        }
        for key in &spec.unset {
            let _ = writeln!(diffs, "  - {key}");
        }
    }
    if !diffs.is_empty() {
        let _ = writeln!(out, "\nenv edits (values masked):\n{diffs}");
    }
    redactor.redact(&out)
}
