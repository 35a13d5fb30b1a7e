//! How a plan describes a step: what it will change and how it is undone, with templates
//! rendered from what is known before the run (vars, the inputs given, `run.mode`, and in a
//! dry run the secret's current values).

use std::collections::BTreeMap;

use super::plan::Known;
use crate::checked::Library;
use crate::checked::RunbookIx;
use crate::checked::{Rollback, RollbackKind, Runbook, Step, StepKind};
use crate::model::{Command, VerifySpec};
use crate::project::Project;
use crate::template::render;

/// Says in words what a step will change and how it is undone, rendering what is known
/// before the run.
#[derive(Clone, Copy)]
pub(super) struct Describer<'a> {
    pub(super) project: &'a Project,
    pub(super) library: &'a Library,
    pub(super) env: &'a minijinja::Environment<'static>,
    /// The host the described node runs on: its vars fill the templates.
    pub(super) host: Option<&'a str>,
    pub(super) given: &'a BTreeMap<String, String>,
    pub(super) known: Option<&'a Known<'a>>,
    pub(super) mode: &'static str,
}

impl Describer<'_> {
    /// Renders what is known at plan time (vars, the inputs given or their defaults, never a
    /// secret one; in a dry run also the secret's current values); anything that depends on a
    /// step's output stays as written.
    fn show(&self, rb: RunbookIx, runbook: &Runbook, text: &str) -> String {
        // A literal renders as itself: building the context for it was most of the cost of
        // describing a plain step (a 10,000-step plan spent 17% of its instructions here).
        if !crate::template::is_template(text) {
            return text.to_string();
        }
        render(self.env, text, &self.context(rb, runbook)).unwrap_or_else(|_| text.to_string())
    }

    /// Whether a step's `when` is already false from what is known before the run. One that
    /// reads anything unknown here (a step's output, a secret input) is decided at run time.
    pub(super) fn decided_false(&self, rb: RunbookIx, runbook: &Runbook, step: &Step) -> bool {
        let Some(when) = &step.when else { return false };
        crate::template::eval_bool(self.env, &when.value, &self.context(rb, runbook))
            .is_ok_and(|v| !v)
    }

    /// vars, the non-secret inputs, `run.mode`, and in a dry run the runbook's own `secret`;
    /// a name left out stays undefined, so what reads it is not decided here.
    fn context(&self, rb: RunbookIx, runbook: &Runbook) -> minijinja::Value {
        let inputs: std::collections::BTreeMap<String, String> = runbook
            .inputs
            .iter()
            .filter(|(_, i)| !i.secret)
            .filter_map(|(k, i)| {
                Some((k.clone(), self.given.get(k).or(i.default.as_ref())?.clone()))
            })
            .collect();
        let secret = self.known.and_then(|known| {
            let owned = self.library.runbook(rb).secret.as_ref()?;
            // A file that could not be read says nothing: `secret` stays undefined, and what
            // reads it is not decided here.
            let values = known.currents.get(&rb)?.clone();
            let current = owned.env.first().and_then(|e| values.get(&e.value).cloned());
            Some(minijinja::context! { id => owned.id.value.clone(), current => current, values => values })
        });
        let mut ctx = BTreeMap::from([
            (
                "vars",
                crate::template::value_of(self.project.vars_on(&runbook.vars, self.host)),
            ),
            ("inputs", crate::template::value_of(inputs)),
            ("run", minijinja::context! { mode => self.mode }),
        ]);
        if let Some(secret) = secret {
            ctx.insert("secret", secret);
        }
        crate::template::value_of(ctx)
    }

    /// The first line of an operator's instructions, rendered when it can be. Lines that are
    /// only template statements (`{% set ... %}`) say nothing to a reader and are passed over.
    fn first_line(&self, rb: RunbookIx, runbook: &Runbook, text: &str) -> String {
        let rendered = self.show(rb, runbook, text);
        rendered
            .lines()
            .map(str::trim)
            .find(|l| !(l.is_empty() || l.starts_with("{%") && l.ends_with("%}")))
            .unwrap_or_default()
            .to_string()
    }

    fn env_file(&self, rb: RunbookIx, runbook: &Runbook, file: Option<&String>) -> String {
        self.show(rb, runbook, runbook.env_file_text(file))
    }

    /// What a step changes, and how that change is undone.
    pub(super) fn step(&self, rb: RunbookIx, runbook: &Runbook, step: &Step) -> (String, String) {
        (
            self.change(rb, runbook, &step.kind),
            self.rollback(rb, runbook, step),
        )
    }

    fn change(&self, rb: RunbookIx, runbook: &Runbook, kind: &StepKind) -> String {
        match kind {
            StepKind::Generate(g) => match (g.bytes, g.encoding, g.length, g.charset) {
                (Some(n), Some(enc), _, _) => format!(
                    "generate a secret: {n} random bytes, {}",
                    format!("{enc:?}").to_lowercase()
                ),
                (_, _, Some(n), Some(cs)) => format!(
                    "generate a secret: {n} characters, {}",
                    format!("{cs:?}").to_lowercase()
                ),
                _ => "generate a secret".into(),
            },
            StepKind::Exec(e) => format!("run {}", self.command(rb, runbook, &e.run.value)),
            StepKind::Env(e) => {
                let mut parts = Vec::new();
                if !e.set.is_empty() {
                    parts.push(format!(
                        "set {}",
                        e.set.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
                if !e.unset.is_empty() {
                    parts.push(format!("unset {}", e.unset.join(", ")));
                }
                format!(
                    "{} in {}",
                    parts.join(" and "),
                    self.env_file(rb, runbook, e.file.as_ref())
                )
            }
            StepKind::File(f) => format!(
                "write {}{}",
                self.show(rb, runbook, &f.path),
                f.mode
                    .as_ref()
                    .map(|m| format!(" (mode {m})"))
                    .unwrap_or_default()
            ),
            StepKind::Restart(services) => format!("restart {}", services.join(", ")),
            StepKind::Verify(v) => format!("verify: {}", self.verify(rb, runbook, v)),
            StepKind::Manual(m) => {
                let first = self.first_line(rb, runbook, &m.instructions);
                match &m.input {
                    Some(input) => format!(
                        "operator: {} (reads {}{})",
                        first,
                        input.name,
                        if input.secret { ", secret" } else { "" }
                    ),
                    None => format!("operator: {first}"),
                }
            }
            StepKind::Rotate(_) => "rotate (expanded)".into(),
            StepKind::Report(r) => format!(
                "write the incident report to {}",
                self.show(rb, runbook, &r.path)
            ),
        }
    }

    /// What a verify step checks.
    fn verify(&self, rb: RunbookIx, runbook: &Runbook, verify: &VerifySpec) -> String {
        if let Some(h) = &verify.http {
            format!(
                "GET {} expects {}",
                self.show(rb, runbook, &h.url),
                h.status
            )
        } else if let Some(t) = &verify.tcp {
            format!(
                "tcp connect {}:{}",
                self.show(rb, runbook, &t.host),
                self.show(rb, runbook, &t.port)
            )
        } else if let Some(e) = &verify.exec {
            format!("run {}", self.command(rb, runbook, &e.run.value))
        } else {
            String::new()
        }
    }

    /// The step's own `rollback:`, or what its kind undoes by itself.
    fn rollback(&self, rb: RunbookIx, runbook: &Runbook, step: &Step) -> String {
        match (&step.rollback, &step.kind) {
            (Some(Rollback::None), _) => "none".into(),
            (Some(Rollback::Body(body)), _) => match &body.kind {
                RollbackKind::Exec(e) => format!("run {}", self.command(rb, runbook, &e.run.value)),
                RollbackKind::Manual(m) => format!(
                    "operator: {}",
                    self.first_line(rb, runbook, &m.instructions)
                ),
                RollbackKind::Env(e) => {
                    format!("edit {}", self.env_file(rb, runbook, e.file.as_ref()))
                }
                RollbackKind::File(f) => format!("write {}", self.show(rb, runbook, &f.path)),
                RollbackKind::Restart(s) => format!("restart {}", s.join(", ")),
            },
            (None, StepKind::Env(e)) => format!(
                "restore {} byte-for-byte",
                self.env_file(rb, runbook, e.file.as_ref())
            ),
            (None, StepKind::File(f)) => format!(
                "restore the previous {} (or remove it)",
                self.show(rb, runbook, &f.path)
            ),
            (None, StepKind::Restart(_)) => {
                "restarted again once the files it reads are restored".into()
            }
            (None, StepKind::Generate(_) | StepKind::Verify(_) | StepKind::Report(_)) => {
                "none needed".into()
            }
            (None, StepKind::Exec(_) | StepKind::Manual(_) | StepKind::Rotate(_)) => {
                "none declared".into()
            }
        }
    }

    fn command(&self, rb: RunbookIx, runbook: &Runbook, command: &Command) -> String {
        match command {
            // A script's first line, so each step stays one line of the plan.
            Command::Shell(script) => {
                let shown = self.show(rb, runbook, script.trim());
                match shown.split_once('\n') {
                    Some((first, _)) => format!("`{first} …`"),
                    None => format!("`{shown}`"),
                }
            }
            Command::Argv(argv) => format!(
                "`{}`",
                argv.iter()
                    .map(|a| self.show(rb, runbook, a))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    }
}
