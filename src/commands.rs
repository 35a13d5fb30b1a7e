//! The commands: plain options in, an exit code out. Output goes through `report`.

pub(crate) mod completion;
mod graph;
mod list;
mod plan;
mod recover;
mod reopen;
mod retire;
mod run;
mod shared;
mod status;
mod validate;

pub(crate) use retire::RetireOptions;
pub(crate) use run::RunFlags;

use std::io::Write;
use std::path::PathBuf;

use crate::check::health::{self, Broken};
use crate::check::{check_library, checked, verdict};
use crate::checked::Library;
use crate::diagnostic::Problem;
use crate::exit;
use crate::plan::{Plan, PlanRequest, build};
use crate::project::{self, Project, ProjectOptions};
use crate::report::diagnostics::Diagnostics;

pub(crate) use crate::report::diagnostics::Color;

/// How `list` and `history` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListFormat {
    Text,
    Json,
}

/// How `plan` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlanFormat {
    Text,
    Json,
    Dot,
    Mermaid,
}

/// How `run` shows its events: a view for people, or JSON lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunFormat {
    Text,
    Json,
}

/// How `status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusFormat {
    Text,
    Json,
    Prometheus,
}

/// How `graph` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GraphFormat {
    Dot,
    Mermaid,
}

/// The global flags.
#[derive(Debug, Clone)]
pub(crate) struct Global {
    pub config: Option<PathBuf>,
    pub vars: Vec<(String, String)>,
    pub state_dir: Option<PathBuf>,
    /// `--inventory FILE`: an Ansible YAML inventory.
    pub inventory: Option<PathBuf>,
    /// `--limit PATTERN`: the only hosts a run may act on.
    pub limit: Option<String>,
    pub verbose: u8,
    pub quiet: bool,
    pub color: Color,
}

/// What to run and with which inputs.
#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    pub runbook: String,
    pub secret: Option<String>,
    pub inputs: Vec<(String, String)>,
}

#[derive(Debug)]
pub(crate) enum Invocation {
    List {
        format: ListFormat,
    },
    Validate {
        paths: Vec<PathBuf>,
    },
    Plan {
        run: RunOptions,
        format: PlanFormat,
    },
    Run {
        run: RunOptions,
        flags: RunFlags,
    },
    Resume {
        run_id: String,
        yes: bool,
        /// Manual steps the operator says are done (`--done`).
        done: Vec<String>,
    },
    Abort {
        run_id: String,
        yes: bool,
    },
    Retire(RetireOptions),
    Status {
        format: StatusFormat,
        check: bool,
    },
    History {
        format: ListFormat,
    },
    Graph {
        format: GraphFormat,
    },
    Schema {
        which: String,
    },
    /// Bytes prepared by the CLI itself (completions).
    Print(Vec<u8>),
}

/// Runs one command and returns its exit code.
pub(crate) fn dispatch(global: &Global, invocation: Invocation) -> u8 {
    let diagnostics = Diagnostics::new(global.color);
    let redactor = crate::redact::Redactor::new();
    crate::logging::init(global.verbose, global.quiet, &redactor);
    let json = invocation.prints_json();
    let result = match invocation {
        Invocation::List { format } => list::run(global, format),
        Invocation::Validate { paths } => validate::run(global, &paths, &diagnostics),
        Invocation::Plan { run, format } => plan::run(global, &run, format),
        Invocation::Run {
            run: options,
            flags,
        } => run::run(global, &options, &flags, &redactor),
        Invocation::Resume { run_id, yes, done } => {
            recover::resume(global, &run_id, yes, &done, &redactor)
        }
        Invocation::Abort { run_id, yes } => recover::abort(global, &run_id, yes, &redactor),
        Invocation::Retire(options) => retire::retire(global, &options, &redactor),
        Invocation::Status { format, check } => status::run(global, format, check),
        Invocation::History { format } => status::history(global, format),
        Invocation::Graph { format } => graph::run(global, format),
        Invocation::Schema { which } => schema(&which),
        Invocation::Print(bytes) => write_stdout(&bytes),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Problems(problems)) => {
            // Diagnostics may quote input files; they go through the redactor like all output.
            let problems: Vec<Problem> = problems
                .into_iter()
                .map(|mut p| {
                    p.message = redactor.redact(&p.message);
                    p
                })
                .collect();
            if json {
                let lines = crate::report::errors::problem_lines(&problems, exit::INVALID);
                let _ = write_stdout(redactor.redact(&lines).as_bytes());
            } else {
                diagnostics.print(&problems);
            }
            exit::INVALID
        }
        Err(Failure::Exit(code, message)) => {
            let message = redactor.redact(&message);
            if json {
                let _ =
                    write_stdout(crate::report::errors::message_line(&message, code).as_bytes());
            } else {
                eprintln!("error: {message}");
            }
            code
        }
    }
}

impl Invocation {
    /// Whether the operator asked for JSON: then errors are JSON on stdout too.
    fn prints_json(&self) -> bool {
        match self {
            Invocation::List { format } | Invocation::History { format } => {
                *format == ListFormat::Json
            }
            Invocation::Plan { format, .. } => *format == PlanFormat::Json,
            Invocation::Run { flags, .. } => flags.format == RunFormat::Json,
            Invocation::Status { format, .. } => *format == StatusFormat::Json,
            _ => false,
        }
    }
}

/// Why a command stopped early.
pub(crate) enum Failure {
    /// Invalid input: printed as diagnostics, exit 2.
    Problems(Vec<Problem>),
    /// Another documented exit code, with a one-line explanation.
    Exit(u8, String),
}

impl From<Problem> for Failure {
    fn from(problem: Problem) -> Self {
        Failure::Problems(vec![problem])
    }
}

pub(crate) type Outcome = Result<u8, Failure>;

fn project_options(global: &Global) -> ProjectOptions {
    ProjectOptions {
        config: global.config.clone(),
        state_dir: global.state_dir.clone(),
        vars: global.vars.clone(),
        inventory: global.inventory.clone(),
        limit: global.limit.clone(),
    }
}

/// Opens the project and the runbooks that load and check cleanly, in their checked form;
/// every file with a problem is set aside with all of its problems.
pub(crate) fn open_library(global: &Global) -> Result<(Project, Library, Vec<Broken>), Failure> {
    let project = Project::open(&project_options(global))?;
    let files = crate::load::Files::read(std::slice::from_ref(&project.runbooks_dir));
    let key = verdict::key(&project, &files);
    let known = key
        .as_ref()
        .is_some_and(|k| verdict::known_valid(&project, k));
    let (library, broken) = library_of(&project, files, key, known, false);
    Ok((project, library, broken))
}

/// The library read as `files`, checked unless `known` says the verdict for `key` is that it
/// has no problem. `catalog`: whether a library without a problem also leaves its catalog
/// (for `plan`; see `check::catalog`).
fn library_of(
    project: &Project,
    files: crate::load::Files,
    key: Option<verdict::Key>,
    known: bool,
    catalog: bool,
) -> (Library, Vec<Broken>) {
    let paths: Vec<PathBuf> = files.read.iter().map(|(p, _)| p.clone()).collect();
    let mut library = project::Library::parse(files);
    let mut problems = std::mem::take(&mut library.problems);
    // Checked before with no problem (see `check::verdict`): the same checks would find none.
    if !known {
        problems.extend(check_library(project, &library));
        if let Some(key) = key.as_ref().filter(|_| problems.is_empty()) {
            verdict::remember(project, key, false);
        }
    }
    if let Some(key) = key.as_ref().filter(|_| catalog && problems.is_empty()) {
        crate::check::catalog::remember(project, key, &paths, &library);
    }
    let config = project.config_source.as_ref().map(|s| s.path.as_path());
    let broken = health::set_aside(&mut library, problems, config);
    (checked(library), broken)
}

/// For commands that only show the library (`list`, `status`, `graph`): they go on without
/// the broken runbooks and say which were skipped.
pub(crate) fn open_lenient(global: &Global) -> Result<(Project, Library), Failure> {
    let (project, library, broken) = open_library(global)?;
    warn(&broken);
    Ok((project, library))
}

/// For `plan` and `run`: the project, the library and the plan (see `checked_plan`).
pub(crate) fn open_planned(
    global: &Global,
    request: &PlanRequest,
) -> Result<(Project, Library, Plan), Failure> {
    let (project, library, broken) = open_library(global)?;
    let plan = checked_plan(&project, &library, broken, request)?;
    Ok((project, library, plan))
}

/// The plan, never built from a library with a known problem that concerns it. A broken
/// runbook the plan does not involve is skipped with a warning; one it involves (or one too
/// broken to tell) refuses the run with all of its problems.
pub(crate) fn checked_plan(
    project: &Project,
    library: &Library,
    broken: Vec<Broken>,
    request: &PlanRequest,
) -> Result<Plan, Failure> {
    let plan = match build(project, library, request) {
        Ok(plan) => plan,
        // The runbook asked for, or a secret it implies, may be in a broken file.
        Err(problem) => {
            let (named, others): (Vec<Broken>, Vec<Broken>) = broken.into_iter().partition(|b| {
                b.outline
                    .as_ref()
                    .and_then(|o| o.name.as_deref())
                    .is_some_and(|n| n == request.runbook)
            });
            // Asked for a runbook that is itself broken: its problems say why, not "no
            // runbook is named ...".
            let problems: Vec<Problem> = if named.is_empty() {
                std::iter::once(problem)
                    .chain(others.into_iter().flat_map(|b| b.problems))
                    .collect()
            } else {
                named.into_iter().flat_map(|b| b.problems).collect()
            };
            return Err(Failure::Problems(problems));
        }
    };
    let (involved, other): (Vec<Broken>, Vec<Broken>) = broken
        .into_iter()
        .partition(|b| health::involved(b, library, &plan));
    if !involved.is_empty() {
        return Err(Failure::Problems(
            involved.into_iter().flat_map(|b| b.problems).collect(),
        ));
    }
    warn(&other);
    Ok(plan)
}

fn warn(broken: &[Broken]) {
    for line in health::warnings(broken) {
        eprintln!("{line}");
    }
}

pub(crate) fn write_stdout(bytes: &[u8]) -> Outcome {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`runbook list | head`) is not an error worth a message.
    let _ = out.write_all(bytes).and_then(|()| out.flush());
    Ok(exit::DONE)
}

fn schema(which: &str) -> Outcome {
    let text = match which {
        "runbook" => crate::schema::runbook_schema(),
        "config" => crate::schema::config_schema(),
        other => {
            return Err(Problem::new(
                "runbook::usage::schema",
                format!("unknown schema `{other}`: use `runbook` or `config`"),
            )
            .into());
        }
    };
    write_stdout(text.as_bytes())
}
