//! Showing a plan: text for people, JSON for tools, DOT and Mermaid for pictures. A plan
//! shows templates and file names, never a value: nothing secret is known at plan time.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::model::{Command, KindRef, Rollback, Runbook, Step};
use crate::plan::{Plan, Work};
use crate::project::{Library, Project};
use crate::template::{environment, render};

pub(crate) use super::plan_text::{json, text};

/// One node of the plan as shown.
#[derive(Serialize)]
pub(crate) struct NodeView {
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
    /// A dry run found its `when` false already: it will not run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
    /// The runbook author's explanation of the step.
    pub description: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct SecretView {
    pub id: String,
    pub runbook: String,
    pub env: Vec<String>,
    pub impact: String,
}

#[derive(Serialize)]
pub(crate) struct PlanView {
    pub runbook: String,
    pub mode: &'static str,
    pub secret: Option<String>,
    pub secrets: Vec<SecretView>,
    pub steps: Vec<NodeView>,
    pub point_of_no_return: Option<String>,
    pub notes: Vec<String>,
}

/// What a dry run knows beyond a plan, from preflight: which steps may run, and the current
/// values of the secrets (so templates that read them render; its output is redacted).
pub(crate) struct Known<'a> {
    pub active: &'a BTreeSet<(usize, usize)>,
    pub currents: &'a HashMap<usize, BTreeMap<String, String>>,
}

/// `given` are the `--input` values on the command line; only those the runbook declares not
/// secret are shown.
pub(crate) fn view(
    project: &Project,
    library: &Library,
    plan: &Plan,
    given: &BTreeMap<String, String>,
) -> PlanView {
    view_known(project, library, plan, given, None)
}

/// [`view`] with what a dry run knows: steps that will not run say so, and templates that read
/// the secret's current values are rendered.
pub(crate) fn view_known(
    project: &Project,
    library: &Library,
    plan: &Plan,
    given: &BTreeMap<String, String>,
    known: Option<&Known<'_>>,
) -> PlanView {
    let describe = Describer {
        project,
        library,
        env: environment(),
        given,
        known,
        mode: plan.mode.as_str(),
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
                    let skipped = known.is_some_and(|k| !k.active.contains(&(*rb, *si)))
                        || describe.decided_false(*rb, runbook, step);
                    let (change, rollback) = if skipped {
                        (
                            "skipped: its `when` is false for this run".into(),
                            "none needed".into(),
                        )
                    } else {
                        describe.step(*rb, runbook, step)
                    };
                    NodeView {
                        index: index + 1,
                        name: node.name.clone(),
                        kind: step.kind().name(),
                        runbook: Some(runbook.name.value.clone()),
                        change,
                        rollback,
                        needs,
                        serves: Vec::new(),
                        irreversible: step.irreversible && !skipped,
                        when: step.when.as_ref().map(|w| w.value.clone()),
                        skipped,
                        description: step.description.clone(),
                    }
                }
                Work::Restart { services, serves } => {
                    // Only the services of restart steps that will run, as the run does.
                    let serves: Vec<(usize, usize)> = serves
                        .iter()
                        .copied()
                        .filter(|(rb, si)| {
                            let runbook = &library.runbooks[*rb].value;
                            !(known.is_some_and(|k| !k.active.contains(&(*rb, *si)))
                                || describe.decided_false(*rb, runbook, &runbook.steps[*si]))
                        })
                        .collect();
                    let wanted: Vec<String> = serves
                        .iter()
                        .flat_map(|(rb, si)| {
                            let runbook = &library.runbooks[*rb].value;
                            crate::plan::restart_services(
                                project,
                                runbook,
                                runbook.steps[*si].restart.as_deref().unwrap_or_default(),
                            )
                        })
                        .collect();
                    let services: Vec<&String> =
                        services.iter().filter(|s| wanted.contains(s)).collect();
                    let services: Vec<&str> = services.iter().map(|s| s.as_str()).collect();
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
                        skipped: false,
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
    library: &'a Library,
    env: minijinja::Environment<'static>,
    given: &'a BTreeMap<String, String>,
    known: Option<&'a Known<'a>>,
    mode: &'static str,
}

impl Describer<'_> {
    /// Renders what is known at plan time (vars, the inputs given or their defaults, never a
    /// secret one; in a dry run also the secret's current values); anything that depends on a
    /// step's output stays as written.
    fn show(&self, rb: usize, runbook: &Runbook, text: &str) -> String {
        render(&self.env, text, &self.context(rb, runbook)).unwrap_or_else(|_| text.to_string())
    }

    /// Whether a step's `when` is already false from what is known before the run. One that
    /// reads anything unknown here (a step's output, a secret input) is decided at run time.
    fn decided_false(&self, rb: usize, runbook: &Runbook, step: &Step) -> bool {
        let Some(when) = &step.when else { return false };
        crate::template::eval_bool(&self.env, &when.value, &self.context(rb, runbook))
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
            let values = known.currents.get(&rb).cloned().unwrap_or_default();
            let current = owned.env.first().and_then(|e| values.get(&e.value).cloned());
            Some(minijinja::context! { id => owned.id.value.clone(), current => current, values => values })
        });
        let mut ctx = BTreeMap::from([
            (
                "vars",
                crate::template::value_of(self.project.vars_for(runbook)),
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

    fn step(&self, rb: usize, runbook: &Runbook, step: &Step) -> (String, String) {
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
        };
        let rollback = match (&step.rollback, step.kind()) {
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
        };
        (change, rollback)
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
