//! Reading an Ansible YAML inventory into the definitions: each group's hosts (a host
//! listed under a group is defined by it, with its vars), its vars and its children, to any
//! depth; `all` is the root.

use crate::model::{AnsibleGroup, AnsibleInventory};

use super::Definitions;

/// Adds every group and host of an inventory.
pub(crate) fn add_ansible(defs: &mut Definitions, inventory: &AnsibleInventory) {
    for (name, group) in &inventory.groups {
        let depth = usize::from(name != "all");
        walk(defs, name, group.as_ref(), depth);
    }
}

fn walk(defs: &mut Definitions, name: &str, group: Option<&AnsibleGroup>, depth: usize) {
    let entry = defs.groups.entry(name.to_string()).or_default();
    entry.depth = entry.depth.max(depth);
    let Some(group) = group else {
        return;
    };
    for (host, vars) in group.hosts.iter().flatten() {
        let own = defs.host(host);
        own.extend(vars.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())));
        defs.groups
            .get_mut(name)
            .expect("the group was just added; this is a bug")
            .hosts
            .insert(host.clone());
    }
    if let Some(vars) = &group.vars {
        defs.groups
            .get_mut(name)
            .expect("the group was just added; this is a bug")
            .vars
            .extend(vars.iter().map(|(k, v)| (k.clone(), v.0.clone())));
    }
    for (child, body) in group.children.iter().flatten() {
        defs.groups
            .get_mut(name)
            .expect("the group was just added; this is a bug")
            .children
            .insert(child.clone());
        walk(defs, child, body.as_ref(), depth + 1);
    }
}
