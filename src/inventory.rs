//! The hosts a run can reach: the config's `hosts:` and `groups:`, and an Ansible YAML
//! inventory (`--inventory FILE`) — hosts, groups, children, host and group vars — merged
//! into one table, narrowed by `--limit`. Pure: the files are read by the loader. Patterns
//! (`on:`, `--limit`) are in `pattern.rs`, the Ansible walk in `ansible.rs`.

mod ansible;
mod pattern;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::diagnostic::Problem;
use crate::model::{GroupSpec, HostSpec, Ordered};

pub(crate) use ansible::add_ansible;

/// Ansible's connection variables, which say how to reach a host rather than being only
/// template values (they are template values too, as in Ansible).
pub(crate) const ADDRESS: &str = "ansible_host";
pub(crate) const PORT: &str = "ansible_port";
pub(crate) const USER: &str = "ansible_user";
pub(crate) const KEY_FILE: &str = "ansible_ssh_private_key_file";
pub(crate) const SSH_ARGS: &str = "ansible_ssh_common_args";

/// Ansible's password variables. `runbook` logs in with keys only (`ssh` runs in batch mode,
/// which never asks for one), so an inventory that sets one is refused rather than read:
/// its value would otherwise be a template var like any other, one a plan or an error
/// could show.
const PASSWORDS: [&str; 7] = [
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_become_password",
    "ansible_become_pass",
    "ansible_sudo_pass",
    "ansible_sudo_password",
];

/// One group as its sources define it, before children are expanded.
#[derive(Debug, Default, Clone)]
pub(crate) struct GroupDef {
    pub hosts: BTreeSet<String>,
    pub children: BTreeSet<String>,
    pub vars: BTreeMap<String, String>,
    /// Nesting below `all`: a child's vars win over its parent's, as in Ansible.
    pub depth: usize,
}

/// Hosts and groups as the sources define them; [`Inventory::build`] resolves them.
#[derive(Debug, Default)]
pub(crate) struct Definitions {
    pub hosts: BTreeMap<String, BTreeMap<String, String>>,
    /// Host names in the order the sources first list them.
    pub order: Vec<String>,
    pub groups: BTreeMap<String, GroupDef>,
    /// Problems found while reading the sources.
    pub problems: Vec<Problem>,
}

/// How to reach one host, from its connection variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Connection {
    pub address: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity_file: Option<PathBuf>,
    /// `ansible_ssh_common_args` split into words as a shell would.
    pub extra_args: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Inventory {
    /// Every host with its merged vars: group vars by depth, then its own.
    hosts: BTreeMap<String, BTreeMap<String, String>>,
    /// Every group with all its hosts, children's included.
    groups: BTreeMap<String, BTreeSet<String>>,
    /// `--limit`: the only hosts any pattern may select.
    limit: Option<BTreeSet<String>>,
    /// Each host's place in the order the sources list hosts: selections follow it, as
    /// Ansible's do, so `serial` batches take hosts in the order the operator wrote them.
    position: BTreeMap<String, usize>,
}

impl Definitions {
    /// A host's vars, the host added at the end of the order when it is new.
    pub(crate) fn host(&mut self, name: &str) -> &mut BTreeMap<String, String> {
        if !self.hosts.contains_key(name) {
            self.order.push(name.to_string());
        }
        self.hosts.entry(name.to_string()).or_default()
    }

    /// Adds the config's `hosts:` and `groups:`. Connection fields become the Ansible
    /// connection variables, so both sources read the same way.
    pub(crate) fn add_config(
        &mut self,
        hosts: &Ordered<HostSpec>,
        groups: &BTreeMap<String, GroupSpec>,
    ) {
        for (name, spec) in hosts {
            let vars = self.host(name);
            let connection = [
                (ADDRESS, spec.address.clone()),
                (PORT, spec.port.map(|p| p.to_string())),
                (USER, spec.user.clone()),
                (KEY_FILE, spec.identity_file.clone()),
                (SSH_ARGS, spec.ssh_args.clone()),
            ];
            for (key, value) in connection {
                if let Some(value) = value {
                    vars.insert(key.to_string(), value);
                }
            }
            vars.extend(spec.vars.clone());
        }
        for (name, spec) in groups {
            let group = self.groups.entry(name.clone()).or_default();
            group.hosts.extend(spec.hosts.iter().cloned());
            group.children.extend(spec.children.iter().cloned());
            group.vars.extend(spec.vars.clone());
            group.depth = group.depth.max(1);
        }
    }
}

impl Inventory {
    /// Resolves groups (children expanded, `all` holding every host) and each host's vars.
    /// A group naming a host or child that nothing defines is a problem.
    pub(crate) fn build(mut defs: Definitions) -> Result<Self, Vec<Problem>> {
        let mut problems = std::mem::take(&mut defs.problems);
        problems.extend(passwords(&defs));
        for (name, group) in &defs.groups {
            for host in &group.hosts {
                if !defs.hosts.contains_key(host) {
                    problems.push(problem(format!(
                        "group `{name}` lists host `{host}`, which no `hosts:` entry or inventory defines"
                    )));
                }
            }
            for child in &group.children {
                if !defs.groups.contains_key(child) {
                    problems.push(problem(format!(
                        "group `{name}` names child group `{child}`, which is not defined"
                    )));
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let all: BTreeSet<String> = defs.hosts.keys().cloned().collect();
        let mut groups = BTreeMap::new();
        for name in defs.groups.keys() {
            let mut members = BTreeSet::new();
            collect(&defs.groups, name, &mut members, &mut BTreeSet::new());
            groups.insert(name.clone(), members);
        }
        groups.insert("all".to_string(), all);
        let mut order: Vec<(&String, &GroupDef)> = defs.groups.iter().collect();
        order.sort_by_key(|(name, group)| (*name != "all", group.depth));
        let mut hosts = BTreeMap::new();
        for (host, own) in &defs.hosts {
            let mut vars = BTreeMap::new();
            for (name, group) in &order {
                if groups[*name].contains(host) {
                    vars.extend(group.vars.clone());
                }
            }
            vars.extend(own.clone());
            hosts.insert(host.clone(), vars);
        }
        let position = defs
            .order
            .iter()
            .enumerate()
            .map(|(at, name)| (name.clone(), at))
            .collect();
        Ok(Self {
            hosts,
            groups,
            limit: None,
            position,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Narrows every later selection to the hosts `pattern` selects (`--limit`).
    pub(crate) fn limit(&mut self, pattern: &str) -> Result<(), String> {
        let selected = self.select(pattern)?;
        if selected.is_empty() {
            return Err(format!("`--limit {pattern}` selects no host"));
        }
        self.limit = Some(selected.into_iter().collect());
        Ok(())
    }

    /// The hosts a pattern selects, within `--limit`, in the order the sources list them.
    pub(crate) fn select(&self, text: &str) -> Result<Vec<String>, String> {
        let mut hosts = pattern::select(text, &self.hosts, &self.groups)?;
        if let Some(limit) = &self.limit {
            hosts.retain(|h| limit.contains(h));
        }
        hosts.sort_by_key(|h| self.position.get(h).copied().unwrap_or(usize::MAX));
        Ok(hosts)
    }

    /// Whether some host has this var (for the checks of the restart driver, which runs
    /// on every host).
    pub(crate) fn defines(&self, var: &str) -> bool {
        self.hosts.values().any(|vars| vars.contains_key(var))
    }

    /// A host's template vars (group vars, then its own); `None` for an unknown host.
    pub(crate) fn vars(&self, host: &str) -> Option<&BTreeMap<String, String>> {
        self.hosts.get(host)
    }

    /// How to reach a host, from its connection variables.
    pub(crate) fn connection(&self, host: &str) -> Result<Connection, String> {
        let vars = self
            .hosts
            .get(host)
            .ok_or_else(|| format!("no host `{host}` in the inventory"))?;
        let port = match vars.get(PORT) {
            Some(text) => Some(text.parse::<u16>().map_err(|_| {
                format!("host `{host}`: `{PORT}` must be a port number, not `{text}`")
            })?),
            None => None,
        };
        let extra_args = match vars.get(SSH_ARGS) {
            Some(text) => shlex::split(text)
                .ok_or_else(|| format!("host `{host}`: `{SSH_ARGS}` has an unclosed quote"))?,
            None => Vec::new(),
        };
        Ok(Connection {
            address: vars
                .get(ADDRESS)
                .cloned()
                .unwrap_or_else(|| host.to_string()),
            port,
            user: vars.get(USER).cloned(),
            identity_file: vars.get(KEY_FILE).map(PathBuf::from),
            extra_args,
        })
    }
}

/// A problem for each host or group that sets a password variable; it names the variable,
/// never its value.
fn passwords(defs: &Definitions) -> Vec<Problem> {
    let hosts = defs.hosts.iter().map(|(name, vars)| ("host", name, vars));
    let groups = defs.groups.iter().map(|(name, g)| ("group", name, &g.vars));
    hosts
        .chain(groups)
        .flat_map(|(kind, name, vars)| {
            PASSWORDS.iter().filter(|var| vars.contains_key(**var)).map(move |var| {
                Problem::new(
                    "runbook::inventory::password",
                    format!(
                        "{kind} `{name}` sets `{var}`: runbook never logs in or becomes another user with a password (ssh runs in batch mode); use a key (`ansible_ssh_private_key_file`, an ssh-agent or `~/.ssh/config`) and remove the variable"
                    ),
                )
            })
        })
        .collect()
}

/// Every host of a group and of its children, guarding against a child cycle.
fn collect(
    groups: &BTreeMap<String, GroupDef>,
    name: &str,
    into: &mut BTreeSet<String>,
    seen: &mut BTreeSet<String>,
) {
    if !seen.insert(name.to_string()) {
        return;
    }
    if let Some(group) = groups.get(name) {
        into.extend(group.hosts.iter().cloned());
        for child in &group.children {
            collect(groups, child, into, seen);
        }
    }
}

fn problem(message: String) -> Problem {
    Problem::new("runbook::inventory::group", message)
}

#[cfg(test)]
mod tests;
