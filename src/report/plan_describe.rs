//! How a plan describes a step: what it will change and how it is undone, with templates
//! rendered from what is known before the run (vars, the inputs given, `run.mode`, and in a
//! dry run the secret's current values).

use std::collections::BTreeMap;

use super::plan::Known;
use crate::model::{Command, KindRef, Rollback, Runbook, Step};
use crate::project::{Library, Project};
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
    fn show(&self, rb: usize, runbook: &Runbook, text: &str) -> String {
        render(self.env, text, &self.context(rb, runbook)).unwrap_or_else(|_| text.to_string())
    }

    /// Whether a step's `when` is already false from what is known before the run. One that
    /// reads anything unknown here (a step's output, a secret input) is decided at run time.
    pub(super) fn decided_false(&self, rb: usize, runbook: &Runbook, step: &Step) -> bool {
        let Some(when) = &step.when else { return false };
        crate::template::eval_bool(self.env, &when.value, &self.context(rb, runbook))
            .is_ok_and(|v| !v)
    }

    /// vars, the non-secret inputs, `run.mode`, and in a dry run the runbook's own `secret`;
    /// a name left out stays undefined, so what reads it is not decided here.
    fn context(&self, rb: usize, runbook: &Runbook) -> minijinja::Value {
        let inputs: std::collections::BTreeMap<String, String> = runbook
            .inputs
            .iter()
            .filter(|(_, i)| !i.secret)
            .filter_map(|(k, i)| {
                Some((k.clone(), self.given.get(k).or(i.default.as_ref())?.clone()))
            })
            .collect();
        let secret = self.known.and_then(|known| {
            let owned = self.library.runbooks[rb].value.secret.as_ref()?;
            // A file that could not be read says nothing: `secret` stays undefined, and what
            // reads it is not decided here.
            let values = known.currents.get(&rb)?.clone();
            let current = owned.env.first().and_then(|e| values.get(&e.value).cloned());
            Some(minijinja::context! { id => owned.id.value.clone(), current => current, values => values })
        });
        let mut ctx = BTreeMap::from([
            (
                "vars",
                crate::template::value_of(self.project.vars_on(runbook, self.host)),
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
    fn first_line(&self, rb: usize, runbook: &Runbook, text: &str) -> String {
        let rendered = self.show(rb, runbook, text);
        rendered
            .lines()
            .map(str::trim)
            .find(|l| !(l.is_empty() || l.starts_with("{%") && l.ends_with("%}")))
            .unwrap_or_default()
            .to_string()
    }

    fn env_file(&self, rb: usize, runbook: &Runbook, file: Option<&String>) -> String {
        let text = file
            .cloned()
            .or_else(|| runbook.secret.as_ref().and_then(|s| s.file.clone()))
            .unwrap_or_else(|| "{{ vars.env_file }}".to_string());
        self.show(rb, runbook, &text)
    }

    /// What a step changes, and how that change is undone.
    pub(super) fn step(&self, rb: usize, runbook: &Runbook, step: &Step) -> (String, String) {
        let kind = step.kind();
        (
            self.change(rb, runbook, kind),
            self.rollback(rb, runbook, step, kind),
        )
    }

    fn change(&self, rb: usize, runbook: &Runbook, kind: KindRef<'_>) -> String {
        match kind {
            KindRef::Generate(g) => match (g.bytes, g.encoding, g.length, g.charset) {
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
            KindRef::Exec(e) => format!("run {}", self.command(rb, runbook, &e.run.value)),
            KindRef::Env(e) => {
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
            KindRef::File(f) => format!(
                "write {}{}",
                self.show(rb, runbook, &f.path),
                f.mode
                    .as_ref()
                    .map(|m| format!(" (mode {m})"))
                    .unwrap_or_default()
            ),
            KindRef::Restart(services) => format!("restart {}", services.join(", ")),
            KindRef::Verify(v) => {
                let what = if let Some(h) = &v.http {
                    format!(
                        "GET {} expects {}",
                        self.show(rb, runbook, &h.url),
                        h.status
                    )
                } else if let Some(t) = &v.tcp {
                    format!(
                        "tcp connect {}:{}",
                        self.show(rb, runbook, &t.host),
                        self.show(rb, runbook, &t.port)
                    )
                } else if let Some(e) = &v.exec {
                    format!("run {}", self.command(rb, runbook, &e.run.value))
                } else {
                    String::new()
                };
                format!("verify: {what}")
            }
            KindRef::Manual(m) => {
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
            KindRef::Rotate(_) => "rotate (expanded)".into(),
            KindRef::Report(r) => format!(
                "write the incident report to {}",
                self.show(rb, runbook, &r.path)
            ),
        }
    }

    /// The step's own `rollback:`, or what its kind undoes by itself.
    fn rollback(&self, rb: usize, runbook: &Runbook, step: &Step, kind: KindRef<'_>) -> String {
        match (&step.rollback, kind) {
            (Some(Rollback::None(_)), _) => "none".into(),
            (Some(Rollback::Body(body)), _) => {
                if let Some(e) = &body.exec {
                    format!("run {}", self.command(rb, runbook, &e.run.value))
                } else if let Some(m) = &body.manual {
                    format!(
                        "operator: {}",
                        self.first_line(rb, runbook, &m.instructions)
                    )
                } else if let Some(e) = &body.env {
                    format!("edit {}", self.env_file(rb, runbook, e.file.as_ref()))
                } else if let Some(f) = &body.file {
                    format!("write {}", self.show(rb, runbook, &f.path))
                } else if let Some(s) = &body.restart {
                    format!("restart {}", s.join(", "))
                } else {
                    "none".into()
                }
            }
            (None, KindRef::Env(e)) => format!(
                "restore {} byte-for-byte",
                self.env_file(rb, runbook, e.file.as_ref())
            ),
            (None, KindRef::File(f)) => format!(
                "restore the previous {} (or remove it)",
                self.show(rb, runbook, &f.path)
            ),
            (None, KindRef::Restart(_)) => {
                "restarted again once the files it reads are restored".into()
            }
            (None, KindRef::Generate(_) | KindRef::Verify(_) | KindRef::Report(_)) => {
                "none needed".into()
            }
            (None, KindRef::Exec(_) | KindRef::Manual(_) | KindRef::Rotate(_)) => {
                "none declared".into()
            }
        }
    }

    fn command(&self, rb: usize, runbook: &Runbook, command: &Command) -> String {
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
