//! Host patterns, as Ansible reads them: terms separated by `:` or `,` — a host, a group,
//! `all` or `*`, a glob (`web*`) — where `&term` keeps only hosts also in it and `!term`
//! removes its hosts. A term that matches nothing is an error, not an empty set: a typo in
//! `on:` must not silently run a step nowhere.

use std::collections::{BTreeMap, BTreeSet};

pub(super) fn select(
    pattern: &str,
    hosts: &BTreeMap<String, BTreeMap<String, String>>,
    groups: &BTreeMap<String, BTreeSet<String>>,
) -> Result<Vec<String>, String> {
    let mut selected: BTreeSet<String> = BTreeSet::new();
    let mut first = true;
    for raw in pattern.split([':', ',']) {
        let term = raw.trim();
        if term.is_empty() {
            continue;
        }
        let (op, name) = match term.as_bytes()[0] {
            b'!' => ('!', &term[1..]),
            b'&' => ('&', &term[1..]),
            _ => ('+', term),
        };
        let matched = term_hosts(name, hosts, groups)
            .ok_or_else(|| format!("`{name}` names no host or group of the inventory"))?;
        match op {
            '!' => selected.retain(|h| !matched.contains(h)),
            '&' if first => {}
            '&' => selected.retain(|h| matched.contains(h)),
            _ => selected.extend(matched),
        }
        first = false;
    }
    if first {
        return Err("the pattern is empty".into());
    }
    Ok(selected.into_iter().collect())
}

/// The hosts one term names; `None` when it names nothing at all.
fn term_hosts(
    name: &str,
    hosts: &BTreeMap<String, BTreeMap<String, String>>,
    groups: &BTreeMap<String, BTreeSet<String>>,
) -> Option<BTreeSet<String>> {
    if name == "*" {
        return Some(hosts.keys().cloned().collect());
    }
    if let Some(members) = groups.get(name) {
        return Some(members.clone());
    }
    if hosts.contains_key(name) {
        return Some(BTreeSet::from([name.to_string()]));
    }
    if !name.contains(['*', '?']) {
        return None;
    }
    let mut matched = BTreeSet::new();
    let mut any = false;
    for host in hosts.keys().filter(|h| glob(name, h)) {
        matched.insert(host.clone());
        any = true;
    }
    for (group, members) in groups.iter().filter(|(g, _)| glob(name, g)) {
        let _ = group;
        matched.extend(members.iter().cloned());
        any = true;
    }
    any.then_some(matched)
}

/// `*` any run of characters, `?` any one; everything else literal.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}
