//! What every step of a run shares: the loaded library and plan, the template context of each
//! runbook (vars, inputs, step outputs, `secret`, `run`), the redactor, and the locks that keep
//! two steps from editing one file at once.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use minijinja::Value;
use tokio::sync::watch;

use crate::checked::{Library, Runbook, RunbookIx, StepIx};
use crate::events::Emitter;
use crate::host::{Host, Local};
use crate::plan::{NodeIx, Plan};
use crate::project::Project;
use crate::redact::Redactor;
pub(crate) use crate::steps::StepError;
use crate::template::{eval_bool, is_template, render};

mod referenced;
mod snapshot;

use referenced::referenced_steps;
pub(crate) use referenced::steps_read_by;
pub(crate) use snapshot::StartSnapshot;

/// How the operator asked the run to behave.
#[derive(Debug, Clone)]
pub(crate) struct ExecOptions {
    pub jobs: usize,
    /// Answers confirmations (proceed? the point of no return?), never a manual step.
    pub yes: bool,
    /// The manual steps the operator says are done (`resume --done STEP`): only steps the
    /// run was awaiting, checked before the run goes on.
    pub done: std::collections::BTreeSet<String>,
    /// Whether an operator is at a terminal to answer prompts.
    pub interactive: bool,
}

/// A run's identity, as templates see it (`run.*`).
pub(crate) struct RunInfo {
    pub id: String,
    pub started: String,
    pub mode: String,
    /// The secret `--secret` named, if any.
    pub target: Option<String>,
}

impl RunInfo {
    pub(crate) fn new(id: String, started: String, plan: &Plan) -> Self {
        Self {
            id,
            started,
            mode: plan.mode.as_str().to_string(),
            target: plan.target.clone(),
        }
    }
}

pub(crate) struct RunContext {
    pub project: Arc<Project>,
    pub library: Arc<Library>,
    pub plan: Arc<Plan>,
    pub redactor: Redactor,
    pub emitter: Emitter,
    pub options: ExecOptions,
    pub run: RunInfo,
    /// Resolved runbook inputs, by name.
    pub inputs: BTreeMap<String, String>,
    /// Values supplied for manual steps' `input`, by name.
    pub supplied: BTreeMap<String, String>,
    /// The current value of each env name a rotation runbook owns, read before the run
    /// started: `secret.current` (the first) and `secret.values.<NAME>`.
    pub currents: HashMap<RunbookIx, BTreeMap<String, String>>,
    pub cancel: watch::Receiver<bool>,
    /// The journal and the 0600 files beside it.
    pub durable: super::durable::Durable,
    /// Where the steps without `on:` act: every side effect goes through a host.
    pub host: Arc<dyn Host>,
    /// The inventory hosts the plan's nodes run on, by name.
    pub hosts: HashMap<String, Arc<dyn Host>>,
    /// Manual steps take the terminal one at a time.
    pub terminal: tokio::sync::Mutex<()>,
    /// The restart driver runs one invocation at a time on each host: drivers such as
    /// `docker compose` (or the demo's, which owns one process) are not safe to run against
    /// themselves, but two hosts' drivers are independent.
    restart_locks: Mutex<HashMap<Option<String>, Arc<tokio::sync::Mutex<()>>>>,
    env: minijinja::Environment<'static>,
    /// Step outputs by runbook and host: a step on `web1` sees the outputs of steps that
    /// ran here and of those that ran on `web1`, never another host's.
    outputs: Mutex<HashMap<OnHost<RunbookIx>, BTreeMap<String, Value>>>,
    /// Steps whose outputs a template reads: only those are kept for `resume`.
    referenced: std::collections::HashSet<(RunbookIx, StepIx)>,
    file_locks: Mutex<HashMap<OnHost<PathBuf>, Arc<tokio::sync::Mutex<()>>>>,
    /// The env files preflight parsed, for an edit that finds them unchanged.
    pub parsed_env: crate::envfile::Parsed,
}

/// A key scoped to a host: `None` for this machine.
type OnHost<T> = (T, Option<String>);

/// What a run's context is made of; the session builder fills it in.
pub(crate) struct ContextParts {
    pub project: Arc<Project>,
    pub library: Arc<Library>,
    pub plan: Arc<Plan>,
    pub redactor: Redactor,
    pub emitter: Emitter,
    pub options: ExecOptions,
    pub run: RunInfo,
    pub start: StartSnapshot,
    pub cancel: watch::Receiver<bool>,
    pub durable: super::durable::Durable,
    pub hosts: HashMap<String, Arc<dyn Host>>,
}

impl RunContext {
    pub(crate) fn new(parts: ContextParts) -> Self {
        let ContextParts {
            project,
            library,
            plan,
            redactor,
            emitter,
            options,
            run,
            start,
            cancel,
            durable,
            hosts,
        } = parts;
        let StartSnapshot {
            inputs,
            supplied,
            currents,
        } = start;
        let referenced = referenced_steps(&library, &plan);
        let env = crate::template::environment_redacting(&redactor);
        Self {
            project,
            library,
            plan,
            redactor,
            emitter,
            options,
            run,
            inputs,
            supplied,
            currents,
            cancel,
            durable,
            host: Arc::new(Local),
            hosts,
            terminal: tokio::sync::Mutex::new(()),
            restart_locks: Mutex::default(),
            env,
            outputs: Mutex::default(),
            referenced,
            file_locks: Mutex::default(),
            parsed_env: crate::envfile::Parsed::default(),
        }
    }

    pub(crate) fn runbook(&self, rb: RunbookIx) -> &Runbook {
        self.library.runbook(rb)
    }

    /// The id of the secret a runbook's `secret.*` refers to: its own, or for a playbook the
    /// secret the run targets.
    fn secret_scope(&self, rb: RunbookIx) -> Value {
        let runbook = self.runbook(rb);
        let (owner, id) = match &runbook.secret {
            Some(secret) => (Some(rb), secret.id.value.clone()),
            None => {
                let id = self.run.target.clone().unwrap_or_default();
                (self.library.owner_of(&id), id)
            }
        };
        let mut map = BTreeMap::new();
        map.insert("id".to_string(), Value::from(id));
        if let Some(owner) = owner {
            let secret = self
                .runbook(owner)
                .secret
                .as_ref()
                .expect("owner has a secret; this is a bug");
            map.insert(
                "env".into(),
                crate::template::value_of(
                    secret
                        .env
                        .iter()
                        .map(|e| e.value.as_str())
                        .collect::<Vec<_>>(),
                ),
            );
            if let Some(values) = self.currents.get(&owner) {
                if let Some(current) = secret.env.first().and_then(|e| values.get(&e.value)) {
                    map.insert("current".into(), Value::from(current.clone()));
                }
                map.insert("values".into(), crate::template::value_of(values));
            }
            let file = self.runbook(owner).secret_file_text();
            map.insert("file".into(), Value::from(file));
        }
        crate::template::value_of(map)
    }

    /// The host a node acts on.
    pub(crate) fn host_of(&self, host: Option<&str>) -> &dyn Host {
        match host {
            Some(name) => &**self
                .hosts
                .get(name)
                .expect("every host of the plan is connected; this is a bug"),
            None => &*self.host,
        }
    }

    /// The template context of one runbook on a host: its vars and outputs.
    pub(crate) fn template_context_on(
        &self,
        rb: RunbookIx,
        host: Option<&str>,
        extra: Option<(&str, Value)>,
    ) -> Value {
        let runbook = self.runbook(rb);
        let steps = {
            let outputs = self.outputs.lock().unwrap_or_else(PoisonError::into_inner);
            let mut steps = outputs.get(&(rb, None)).cloned().unwrap_or_default();
            if let Some(host) = host
                && let Some(own) = outputs.get(&(rb, Some(host.to_string())))
            {
                steps.extend(own.clone());
            }
            steps
        };
        let inputs: BTreeMap<&String, &String> = self
            .inputs
            .iter()
            .filter(|(k, _)| runbook.inputs.contains_key(*k))
            .collect();
        let mut map: BTreeMap<&str, Value> = BTreeMap::new();
        map.insert(
            "vars",
            crate::template::value_of(self.project.vars_on(&runbook.vars, host)),
        );
        map.insert("inputs", crate::template::value_of(inputs));
        map.insert("steps", crate::template::value_of(steps));
        map.insert("secret", self.secret_scope(rb));
        map.insert(
            "run",
            crate::template::value_of(BTreeMap::from([
                ("id", self.run.id.clone()),
                ("started", self.run.started.clone()),
                ("mode", self.run.mode.clone()),
                ("secret", self.run.target.clone().unwrap_or_default()),
            ])),
        );
        if let Some((name, value)) = extra {
            map.insert(name, value);
        }
        crate::template::value_of(map)
    }

    /// Renders a template of runbook `rb`; a literal is returned untouched.
    pub(crate) fn render(&self, rb: RunbookIx, text: &str) -> Result<String, StepError> {
        self.render_on(rb, None, text)
    }

    /// Renders a template of runbook `rb` for a node on `host`.
    pub(crate) fn render_on(
        &self,
        rb: RunbookIx,
        host: Option<&str>,
        text: &str,
    ) -> Result<String, StepError> {
        if !is_template(text) {
            return Ok(text.to_string());
        }
        Ok(render(
            &self.env,
            text,
            &self.template_context_on(rb, host, None),
        )?)
    }

    /// Renders the file a runbook's secret lives in (`secret.file`, default `vars.env_file`).
    pub(crate) fn secret_file(&self, rb: RunbookIx) -> Result<PathBuf, StepError> {
        self.secret_file_on(rb, None)
    }

    /// The secret's file on `host`, whose vars may place it elsewhere.
    pub(crate) fn secret_file_on(
        &self,
        rb: RunbookIx,
        host: Option<&str>,
    ) -> Result<PathBuf, StepError> {
        let rendered = self.runbook(rb).secret_file_on(&self.project, host)?;
        Ok(self.resolve_on(host, &rendered))
    }

    /// A path a template names: here, relative to the project; on a host, as written
    /// (relative to the login directory there).
    pub(crate) fn resolve_on(&self, host: Option<&str>, path: &str) -> PathBuf {
        match host {
            Some(_) => PathBuf::from(path),
            None => self.project.resolve(path),
        }
    }

    pub(crate) fn eval_on(
        &self,
        rb: RunbookIx,
        host: Option<&str>,
        expr: &str,
        extra: Option<(&str, Value)>,
    ) -> Result<bool, StepError> {
        Ok(eval_bool(
            &self.env,
            expr,
            &self.template_context_on(rb, host, extra),
        )?)
    }

    /// Keeps a finished step node's outputs for the templates of later steps (of its
    /// runbook, here or on its host).
    pub(crate) fn set_outputs(&self, node: NodeIx, outputs: Value) {
        let plan_node = self.plan.node(node);
        let crate::plan::Work::Step(rb, si) = plan_node.work else {
            return;
        };
        // Outputs no template reads are never looked up: kept, they were half of the heap
        // a 1,000-step run grew by (about 600 bytes a step).
        if !self.is_referenced(rb, si) {
            return;
        }
        self.outputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((rb, plan_node.host.clone()))
            .or_default()
            .insert(self.runbook(rb).step(si).id.value.clone(), outputs);
    }

    /// The lock that keeps one host's restart driver from running twice at once.
    pub(crate) fn restart_lock(&self, host: Option<&str>) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(
            self.restart_locks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(host.map(str::to_string))
                .or_default(),
        )
    }

    /// Whether a later step's template reads this step's outputs.
    pub(crate) fn is_referenced(&self, rb: RunbookIx, si: StepIx) -> bool {
        self.referenced.contains(&(rb, si))
    }

    /// A lock per file (per host: `/srv/.env` on two hosts is two files), so two steps
    /// never edit the same file at once.
    pub(crate) fn file_lock(
        &self,
        host: Option<&str>,
        path: &std::path::Path,
    ) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(
            self.file_locks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry((path.to_path_buf(), host.map(str::to_string)))
                .or_default(),
        )
    }
}
