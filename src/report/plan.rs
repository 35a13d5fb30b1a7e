//! Showing a plan: text for people, JSON for tools, DOT and Mermaid for pictures. A plan
//! shows templates and file names, never a value: nothing secret is known at plan time.

use std::fmt::Write;

use serde::Serialize;

use crate::model::{Command, KindRef, Rollback, Runbook, Step};
use crate::plan::{Plan, Work};
use crate::project::{Library, Project};
use crate::template::{environment, render};

/// One node of the plan as shown.
#[derive(Serialize)]
pub struct NodeView {
    pub index: usize,
    pub name: String,
    pub kind: &'static str,
    pub runbook: Option<String>,
    pub change: String,
    pub rollback: String,
    pub needs: Vec<String>,
    /// For coalesced restarts: the restart steps this node serves.
    pub serves: Vec<String>,
    pub irreversible: bool,
    pub when: Option<String>,
    /// The runbook author's explanation of the step.
    pub description: Option<String>,
}

#[derive(Serialize)]
pub struct SecretView {
    pub id: String,
    pub runbook: String,
    pub env: Vec<String>,
    pub impact: String,
}

#[derive(Serialize)]
pub struct PlanView {
    pub runbook: String,
    pub mode: &'static str,
    pub secret: Option<String>,
    pub secrets: Vec<SecretView>,
    pub steps: Vec<NodeView>,
    pub point_of_no_return: Option<String>,
    pub notes: Vec<String>,
}

/// `given` are the `--input` values on the command line; only those the runbook declares not
/// secret are shown.
pub fn view(
    project: &Project,
    library: &Library,
    plan: &Plan,
    given: &std::collections::BTreeMap<String, String>,
) -> PlanView {
    let describe = Describer {
        project,
        env: environment(),
        given,
    };
    let steps: Vec<NodeView> = plan
        .nodes
        .iter()
        .enumerate()
        .map(|(index, node)| {
            let needs = node
                .needs
                .iter()
                .map(|n| plan.nodes[*n].name.clone())
                .collect();
            match &node.work {
                Work::Step(rb, si) => {
                    let runbook = &library.runbooks[*rb].value;
                    let step = &runbook.steps[*si];
                    let (change, rollback) = describe.step(runbook, step);
                    NodeView {
                        index: index + 1,
                        name: node.name.clone(),
                        kind: step.kind().name(),
                        runbook: Some(runbook.name.value.clone()),
                        change,
                        rollback,
                        needs,
                        serves: Vec::new(),
                        irreversible: step.irreversible,
                        when: step.when.as_ref().map(|w| w.value.clone()),
                        description: step.description.clone(),
                    }
                }
                Work::Restart { services, serves } => {
                    let names: Vec<String> = serves
                        .iter()
                        .map(|(rb, si)| crate::plan::step_name(&library.runbooks[*rb].value, *si))
                        .collect();
                    let runbooks: Vec<&str> = {
                        let mut r: Vec<&str> = serves
                            .iter()
                            .map(|(rb, _)| library.runbooks[*rb].value.name.value.as_str())
                            .collect();
                        r.dedup();
                        r
                    };
                    NodeView {
                        index: index + 1,
                        name: node.name.clone(),
                        kind: "restart",
                        runbook: (runbooks.len() == 1).then(|| runbooks[0].to_string()),
                        change: format!(
                            "restart {} — for {}",
                            services.join(", "),
                            runbooks.join(", ")
                        ),
                        rollback: "restarted again once the files it reads are restored".into(),
                        needs,
                        serves: names,
                        irreversible: false,
                        when: None,
                        description: None,
                    }
                }
            }
        })
        .collect();
    let point_of_no_return = steps
        .iter()
        .find(|s| s.irreversible)
        .map(|s| s.name.clone());
    let root = &library.runbooks[plan.root].value;
    PlanView {
        runbook: root.name.value.clone(),
        mode: plan.mode.as_str(),
        secret: plan.target.clone(),
        secrets: plan
            .runbooks
            .iter()
            .filter_map(|rb| {
                let runbook = &library.runbooks[*rb].value;
                runbook.secret.as_ref().map(|s| SecretView {
                    id: s.id.value.clone(),
                    runbook: runbook.name.value.clone(),
                    env: s.env.iter().map(|e| e.value.clone()).collect(),
                    impact: s.impact.clone(),
                })
            })
            .collect(),
        steps,
        point_of_no_return,
        notes: plan.notes.clone(),
    }
}

struct Describer<'a> {
    project: &'a Project,
    env: minijinja::Environment<'static>,
    given: &'a std::collections::BTreeMap<String, String>,
}

impl Describer<'_> {
    /// Renders what is known at plan time (vars, the inputs given or their defaults, never a
    /// secret one); anything that depends on a step's output stays as written.
    fn show(&self, runbook: &Runbook, text: &str) -> String {
        let inputs: std::collections::BTreeMap<String, String> = runbook
            .inputs
            .iter()
            .filter(|(_, i)| !i.secret)
            .filter_map(|(k, i)| {
                Some((k.clone(), self.given.get(k).or(i.default.as_ref())?.clone()))
            })
            .collect();
        let ctx = minijinja::context! { vars => self.project.vars_for(runbook), inputs => inputs };
        render(&self.env, text, &ctx).unwrap_or_else(|_| text.to_string())
    }

    fn env_file(&self, runbook: &Runbook, file: Option<&String>) -> String {
        let text = file
            .cloned()
            .or_else(|| runbook.secret.as_ref().and_then(|s| s.file.clone()))
            .unwrap_or_else(|| "{{ vars.env_file }}".to_string());
        self.show(runbook, &text)
    }

    fn step(&self, runbook: &Runbook, step: &Step) -> (String, String) {
        let change = match step.kind() {
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
            KindRef::Exec(e) => format!("run {}", self.command(runbook, &e.run.value)),
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
                    self.env_file(runbook, e.file.as_ref())
                )
            }
            KindRef::File(f) => format!(
                "write {}{}",
                self.show(runbook, &f.path),
                f.mode
                    .as_ref()
                    .map(|m| format!(" (mode {m})"))
                    .unwrap_or_default()
            ),
            KindRef::Restart(services) => format!("restart {}", services.join(", ")),
            KindRef::Verify(v) => {
                let what = if let Some(h) = &v.http {
                    format!("GET {} expects {}", self.show(runbook, &h.url), h.status)
                } else if let Some(t) = &v.tcp {
                    format!(
                        "tcp connect {}:{}",
                        self.show(runbook, &t.host),
                        self.show(runbook, &t.port)
                    )
                } else if let Some(e) = &v.exec {
                    format!("run {}", self.command(runbook, &e.run.value))
                } else {
                    String::new()
                };
                format!("verify: {what}")
            }
            KindRef::Manual(m) => {
                let first = m.instructions.lines().next().unwrap_or_default();
                match &m.input {
                    Some(input) => format!(
                        "operator: {} (reads {}{})",
                        self.show(runbook, first),
                        input.name,
                        if input.secret { ", secret" } else { "" }
                    ),
                    None => format!("operator: {}", self.show(runbook, first)),
                }
            }
            KindRef::Rotate(_) => "rotate (expanded)".into(),
            KindRef::Report(r) => format!(
                "write the incident report to {}",
                self.show(runbook, &r.path)
            ),
        };
        let rollback = match (&step.rollback, step.kind()) {
            (Some(Rollback::None(_)), _) => "none".into(),
            (Some(Rollback::Body(body)), _) => {
                if let Some(e) = &body.exec {
                    format!("run {}", self.command(runbook, &e.run.value))
                } else if let Some(m) = &body.manual {
                    format!(
                        "operator: {}",
                        m.instructions.lines().next().unwrap_or_default()
                    )
                } else if let Some(e) = &body.env {
                    format!("edit {}", self.env_file(runbook, e.file.as_ref()))
                } else if let Some(f) = &body.file {
                    format!("write {}", self.show(runbook, &f.path))
                } else if let Some(s) = &body.restart {
                    format!("restart {}", s.join(", "))
                } else {
                    "none".into()
                }
            }
            (None, KindRef::Env(e)) => format!(
                "restore {} byte-for-byte",
                self.env_file(runbook, e.file.as_ref())
            ),
            (None, KindRef::File(f)) => format!(
                "restore the previous {} (or remove it)",
                self.show(runbook, &f.path)
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
        };
        (change, rollback)
    }

    fn command(&self, runbook: &Runbook, command: &Command) -> String {
        match command {
            Command::Shell(script) => format!("`{}`", self.show(runbook, script.trim())),
            Command::Argv(argv) => format!(
                "`{}`",
                argv.iter()
                    .map(|a| self.show(runbook, a))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    }
}

pub fn text(view: &PlanView) -> String {
    let mut out = String::new();
    let _ = write!(out, "plan: {}", view.runbook);
    if let Some(secret) = &view.secret {
        let _ = write!(out, " --secret {secret}");
    }
    let _ = writeln!(
        out,
        " ({} mode{})",
        view.mode,
        if view.mode == "incident" {
            ": a failure pauses the run, nothing compromised is restored"
        } else {
            ": a failure rolls everything back"
        }
    );
    if !view.secrets.is_empty() {
        let _ = writeln!(out, "\nrotates:");
        for s in &view.secrets {
            let _ = writeln!(out, "  {} ({}) via {}", s.id, s.env.join(", "), s.runbook);
            let _ = writeln!(out, "    impact: {}", s.impact);
        }
    }
    let _ = writeln!(out, "\nsteps, in order:");
    let width = view.steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for step in &view.steps {
        if view.point_of_no_return.as_deref() == Some(step.name.as_str()) {
            let _ = writeln!(
                out,
                "  ── point of no return: the run asks before this step unless --yes ──"
            );
        }
        let _ = writeln!(
            out,
            "  {:>3}. {:<width$}  {:<8}  {}",
            step.index, step.name, step.kind, step.change
        );
        if !step.needs.is_empty() {
            let _ = writeln!(
                out,
                "       {:<width$}  needs     {}",
                "",
                step.needs.join(", ")
            );
        }
        if let Some(description) = &step.description {
            let _ = writeln!(out, "       {:<width$}  why       {description}", "");
        }
        if let Some(when) = &step.when {
            let _ = writeln!(out, "       {:<width$}  when      {when}", "");
        }
        let _ = writeln!(out, "       {:<width$}  rollback  {}", "", step.rollback);
    }
    if !view.notes.is_empty() {
        let _ = writeln!(out, "\nnotes:");
        for note in &view.notes {
            let _ = writeln!(out, "  - {note}");
        }
    }
    out
}

pub fn json(view: &PlanView) -> String {
    let mut text =
        serde_json::to_string_pretty(view).expect("a plan view always serialises; this is a bug");
    text.push('\n');
    text
}
