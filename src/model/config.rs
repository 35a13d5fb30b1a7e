//! The serde types of the project config, `runbook.yaml`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::HumanDuration;

/// One deployment: where its runbooks and state live, its template values, its restart driver.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "runbook config",
    description = "The project config of `runbook` (runbook.yaml)."
)]
pub struct Config {
    /// The runbook library, relative to this file. Default `runbooks/`.
    pub runbooks: Option<String>,
    /// The state directory, relative to this file. Default `.runbook/`.
    pub state: Option<String>,
    /// Template values available to every runbook as `vars.<name>`.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    pub restart: Option<RestartDriver>,
    /// Hosts that steps with `on:` reach over SSH, by name (an Ansible inventory given with
    /// `--inventory` adds to them).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, HostSpec>")]
    pub hosts: super::Ordered<HostSpec>,
    /// Named sets of hosts, which `on:` and `--limit` patterns name like hosts.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupSpec>,
}

/// One host: how to reach it and its template values.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// The address `ssh` connects to (default: the host's name).
    pub address: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// A private key file (default: the user's own keys and `~/.ssh/config`).
    pub identity_file: Option<String>,
    /// More `ssh` options, as one string of words (e.g. `-o UserKnownHostsFile=...`).
    pub ssh_args: Option<String>,
    /// Template values of this host's steps, over the config's and its groups' `vars`.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// A named set of hosts.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Groups whose hosts belong to this one too.
    #[serde(default)]
    pub children: Vec<String>,
    /// Template values of the group's hosts (a host's own `vars` win).
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// How services are restarted. `services` is the list of services to restart.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartDriver {
    /// A `sh -c` template, e.g. `docker compose up -d --force-recreate --no-deps {{ services | join(" ") }}`.
    pub run: String,
    pub cwd: Option<String>,
    pub timeout: Option<HumanDuration>,
}

/// The driver used without a config: it recreates containers, because `docker compose restart`
/// keeps the environment a container was created with and a changed `.env.prod` would silently
/// not take effect. Compose v2 (`docker compose`) where it works, else v1 (`docker-compose`,
/// still what Debian packages): chosen when the driver runs, on the machine the restart runs
/// on, and said in its output so the run's log shows which one recreated the services.
pub const DEFAULT_RESTART: &str = concat!(
    "if docker compose version >/dev/null 2>&1; then set -- docker compose; ",
    "elif command -v docker-compose >/dev/null 2>&1; then set -- docker-compose; ",
    "else echo 'the default restart driver needs Compose: neither `docker compose` (v2) nor ",
    "`docker-compose` (v1) works here; install one, or set restart.run in runbook.yaml' >&2; ",
    "exit 127; fi; ",
    "echo \"recreating {{ services | join(' ') }} with $* ",
    "($([ \"$*\" = docker-compose ] && echo 'Compose v1' || echo 'Compose v2'))\"; ",
    "exec \"$@\" -f {{ vars.compose_file }} up -d --force-recreate --no-deps {{ services | join(' ') }}"
);

/// The built-in `vars` used when no config file sets them.
pub fn default_vars() -> BTreeMap<String, String> {
    [
        ("env_file", ".env.prod"),
        ("compose_file", "docker/docker-compose.prod.yml"),
        ("api_url", "http://localhost:3001"),
        // The pause between a health check's tries in the shipped runbooks: a deployment with
        // slow starts lengthens it, a test that expects the check to fail shortens it.
        ("health_interval", "1s"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}
