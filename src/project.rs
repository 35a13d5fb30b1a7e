//! The project a command works on: the config (or the built-in defaults), the merged template
//! variables, the state directory, and the library of runbooks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::diagnostic::{Problem, SourceFile};
use crate::inventory::{Definitions, Inventory};
use crate::load::{
    FileText, Files, Loaded, Outline, Partial, Repaired, load_config, outline, parse_runbook,
};
use crate::model::{Config, DEFAULT_RESTART, RestartDriver, Runbook, default_vars};

pub(crate) const CONFIG_FILE: &str = "runbook.yaml";

/// What the global command-line flags say about the project.
#[derive(Debug, Default, Clone)]
pub(crate) struct ProjectOptions {
    pub config: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    /// `--var K=V`, highest precedence.
    pub vars: Vec<(String, String)>,
    /// `--inventory FILE`.
    pub inventory: Option<PathBuf>,
    /// `--limit PATTERN`.
    pub limit: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Project {
    /// Relative paths in runbooks resolve against this directory (the config's).
    pub root: PathBuf,
    pub config_source: Option<Arc<SourceFile>>,
    pub runbooks_dir: PathBuf,
    pub state_dir: PathBuf,
    /// Built-in defaults overlaid with the config's `vars`.
    pub config_vars: BTreeMap<String, String>,
    /// Only what the config file itself sets: these override a runbook's defaults.
    pub explicit_vars: BTreeMap<String, String>,
    pub cli_vars: BTreeMap<String, String>,
    pub restart: RestartDriver,
    /// The hosts `on:` can name, narrowed by `--limit`.
    pub inventory: Inventory,
}

impl Project {
    /// Reads `--config FILE`, else `runbook.yaml` in the working directory, else defaults.
    pub(crate) fn open(options: &ProjectOptions) -> Result<Self, Problem> {
        let cwd = std::env::current_dir().map_err(|e| {
            Problem::new(
                "runbook::config::io",
                format!("cannot read the working directory: {e}"),
            )
        })?;
        let config_path = match &options.config {
            Some(path) => {
                // A dangling symbolic link goes on to be read, which says where it points.
                if !path.is_file() && !path.is_symlink() {
                    return Err(Problem::new(
                        "runbook::config::missing",
                        format!("config file `{}` does not exist", path.display()),
                    ));
                }
                Some(path.clone())
            }
            // A `runbook.yaml` that is a dangling link is an error, not "no config": the
            // built-in defaults would point the run at another env file.
            None => Some(PathBuf::from(CONFIG_FILE)).filter(|p| p.is_file() || p.is_symlink()),
        };
        let (config, source, root) = match config_path {
            Some(path) => {
                let Loaded { value, source } = load_config(&path)?;
                let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
                let root = dir.map_or_else(|| cwd.clone(), |d| cwd.join(d));
                (value, Some(source), root)
            }
            None => (
                Config {
                    runbooks: None,
                    state: None,
                    vars: BTreeMap::new(),
                    restart: None,
                    hosts: Default::default(),
                    groups: BTreeMap::new(),
                },
                None,
                cwd.clone(),
            ),
        };
        let inventory = open_inventory(&config, options)?;
        let explicit_vars = config.vars.clone();
        let mut config_vars = default_vars();
        config_vars.extend(config.vars);
        let runbooks_dir = root.join(config.runbooks.as_deref().unwrap_or("runbooks"));
        let state_dir = match &options.state_dir {
            Some(dir) => cwd.join(dir),
            None => root.join(config.state.as_deref().unwrap_or(".runbook")),
        };
        let restart = config.restart.unwrap_or_else(|| RestartDriver {
            run: DEFAULT_RESTART.to_string(),
            cwd: None,
            timeout: None,
        });
        Ok(Self {
            root,
            config_source: source,
            runbooks_dir,
            state_dir,
            config_vars,
            explicit_vars,
            cli_vars: options.vars.iter().cloned().collect(),
            restart,
            inventory,
        })
    }

    /// The variables the templates of a runbook with `runbook_vars` see. A shipped
    /// runbook's `vars` are defaults that a deployment must be able to change, so the order
    /// is: built-in defaults, then the runbook's `vars`, then the config's `vars`, then
    /// `--var`.
    pub(crate) fn vars_for(
        &self,
        runbook_vars: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut vars = self.config_vars.clone();
        vars.extend(runbook_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        vars.extend(
            self.explicit_vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        vars.extend(self.cli_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        render_vars(vars)
    }

    /// The variables the templates of a runbook with `runbook_vars` see on `host`: the
    /// host's group and host vars come after the config's (they are more specific), `--var`
    /// still last.
    pub(crate) fn vars_on(
        &self,
        runbook_vars: &BTreeMap<String, String>,
        host: Option<&str>,
    ) -> BTreeMap<String, String> {
        let Some(host_vars) = host.and_then(|h| self.inventory.vars(h)) else {
            return self.vars_for(runbook_vars);
        };
        let mut vars = self.config_vars.clone();
        vars.extend(runbook_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        vars.extend(
            self.explicit_vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        vars.extend(host_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        vars.extend(self.cli_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        render_vars(vars)
    }

    /// The variables the checker renders a runbook's templates with: on the hosts its
    /// `on:` patterns select, their vars too (the first host's value of each), so a
    /// template reading a host var is checked like any other.
    pub(crate) fn vars_checked(&self, runbook: &Runbook) -> BTreeMap<String, String> {
        let patterns = runbook
            .on
            .iter()
            .chain(runbook.steps.iter().filter_map(|s| s.on.as_deref()));
        let mut hosts: Vec<String> = Vec::new();
        for pattern in patterns {
            hosts.extend(self.inventory.select(&pattern.value).unwrap_or_default());
        }
        let mut vars = self.vars_for(&runbook.vars);
        for host in hosts.iter().rev() {
            for (key, value) in self.vars_on(&runbook.vars, Some(host)) {
                vars.insert(key, value);
            }
        }
        vars
    }

    /// A path from a runbook or config, resolved against the project root.
    pub(crate) fn resolve(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }
}

/// The config's hosts and groups and the `--inventory` file, merged and checked: every
/// host's connection variables must work, and `--limit` must select a host.
fn open_inventory(config: &Config, options: &ProjectOptions) -> Result<Inventory, Problem> {
    let mut defs = Definitions::default();
    if let Some(path) = &options.inventory {
        let loaded = crate::load::load_inventory(path)?;
        crate::inventory::add_ansible(&mut defs, &loaded.value);
    }
    defs.add_config(&config.hosts, &config.groups);
    let mut inventory = Inventory::build(defs).map_err(|mut problems| problems.swap_remove(0))?;
    for host in inventory.select("all").unwrap_or_default() {
        if let Err(message) = inventory.connection(&host) {
            return Err(Problem::new("runbook::inventory::host", message));
        }
    }
    if let Some(limit) = &options.limit {
        inventory
            .limit(limit)
            .map_err(|message| Problem::new("runbook::inventory::limit", message))?;
    }
    Ok(inventory)
}

/// A var may be built from others (`psql: docker compose -f {{ vars.compose_file }} ...`):
/// each value is rendered once against the merged, unrendered vars, and never again. A value
/// that fails to render is kept as written; the checker reports why.
fn render_vars(vars: BTreeMap<String, String>) -> BTreeMap<String, String> {
    if !vars.values().any(|v| crate::template::is_template(v)) {
        return vars;
    }
    let env = crate::template::shared();
    let ctx = minijinja::context! { vars => vars.clone() };
    vars.iter()
        .map(|(k, v)| {
            let rendered = crate::template::render(env, v, &ctx).unwrap_or_else(|_| v.clone());
            (k.clone(), rendered)
        })
        .collect()
}

/// Every runbook a command can see, plus the files that failed to load.
#[derive(Debug, Default)]
pub(crate) struct Library {
    pub runbooks: Vec<Loaded<Runbook>>,
    pub problems: Vec<Problem>,
    /// The files that did not load, with what could still be read of them (`None`: not even
    /// YAML): a secret they own is not "owned by no runbook", and a run may not need them.
    pub unloaded: std::collections::BTreeMap<PathBuf, Option<Outline>>,
    /// Those files read with their offending fields erased, for the checker only: never
    /// planned or run.
    pub repaired: Vec<Repaired>,
}

impl Library {
    /// Loads files and the YAML files of directories, in a deterministic order.
    pub(crate) fn load(paths: &[PathBuf]) -> Self {
        Self::parse(Files::read(paths))
    }

    /// Parses files already read.
    pub(crate) fn parse(files: Files) -> Self {
        let mut library = Library {
            problems: files.problems,
            ..Library::default()
        };
        let paths: Vec<PathBuf> = files.read.iter().map(|(path, _)| path.clone()).collect();
        for (file, result) in paths.iter().zip(parse_all(files.read)) {
            match result {
                Ok(loaded) => library.runbooks.push(loaded),
                Err(partial) => {
                    library.problems.extend(partial.problems);
                    library.repaired.extend(partial.repaired.map(|r| *r));
                    library.unloaded.insert(file.clone(), outline(file));
                }
            }
        }
        library
    }

    /// The rotation runbook owning a secret id or env name, case-insensitively.
    pub(crate) fn secret_owner(&self, key: &str) -> Option<&Loaded<Runbook>> {
        self.runbooks.iter().find(|r| {
            r.value.secret.as_ref().is_some_and(|s| {
                s.id.value.eq_ignore_ascii_case(key)
                    || s.env.iter().any(|e| e.value.eq_ignore_ascii_case(key))
            })
        })
    }

    /// Whether a file that did not load claims this secret id or env name.
    pub(crate) fn unloaded_owner(&self, key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        self.unloaded
            .values()
            .any(|o| o.as_ref().is_some_and(|o| o.owns.contains(&key)))
    }

    /// Every secret id, sorted, for "valid ids are ..." messages.
    pub(crate) fn secret_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .runbooks
            .iter()
            .filter_map(|r| r.value.secret.as_ref().map(|s| s.id.value.as_str()))
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// How many threads can run at once here (affinity and cgroup quota included), asked once:
/// std reads three cgroup files each time (about 20 system calls), and a run needs the answer
/// twice (parsing, and `--jobs`'s default).
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
}

/// Below this many bytes of YAML in all, files are parsed on one thread.
const PARALLEL_FROM_BYTES: usize = 16 * 1024;

/// Parses every file, in the given order. YAML parsing is most of the time of every command
/// (three quarters of `validate` on the shipped library), and the files are independent, so
/// they are spread over the cores, each thread taking every n-th file.
fn parse_all(files: Vec<FileText>) -> Vec<Result<Loaded<Runbook>, Partial>> {
    let parse = |(path, text): FileText| match text {
        Ok(text) => parse_runbook(&path, text),
        Err(problem) => Err(Partial {
            problems: vec![problem],
            repaired: None,
        }),
    };
    // A thread costs about as much as parsing a few kilobytes (its stack and malloc arena are
    // mapped and unmapped), so a small library, the usual one-runbook project, is parsed here.
    let bytes: usize = files
        .iter()
        .map(|(_, text)| text.as_ref().map_or(0, String::len))
        .sum();
    let threads = if bytes < PARALLEL_FROM_BYTES {
        1
    } else {
        cores().min(files.len())
    };
    if threads <= 1 {
        return files.into_iter().map(parse).collect();
    }
    let count = files.len();
    let mut shares: Vec<Vec<(usize, FileText)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, file) in files.into_iter().enumerate() {
        shares[i % threads].push((i, file));
    }
    let mut slots: Vec<Option<Result<Loaded<Runbook>, Partial>>> =
        (0..count).map(|_| None).collect();
    let parse_share = |share: Vec<(usize, FileText)>| {
        share
            .into_iter()
            .map(|(i, file)| (i, parse(file)))
            .collect::<Vec<_>>()
    };
    std::thread::scope(|scope| {
        let mut shares = shares.into_iter();
        // This thread takes its share too instead of only waiting.
        let own = shares.next().unwrap_or_default();
        let workers: Vec<_> = shares
            .map(|share| scope.spawn(move || parse_share(share)))
            .collect();
        for (i, result) in parse_share(own) {
            slots[i] = Some(result);
        }
        for worker in workers {
            // A panic while parsing is a bug; it reaches the caller as any other panic would.
            let parsed = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (i, result) in parsed {
                slots[i] = Some(result);
            }
        }
    });
    slots.into_iter().flatten().collect()
}
