//! A plan as a picture: Graphviz DOT and Mermaid flowcharts of the steps and their needs,
//! the steps of each inventory host grouped in a box of their own (a DOT cluster, a Mermaid
//! subgraph) so a fleet's plan reads host by host.

use std::fmt::Write;

use super::plan::{NodeView, PlanView};

fn quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The steps on this machine, then each host's, hosts in order of first appearance.
type Nodes<'v, 'a> = Vec<&'v NodeView<'a>>;

fn by_host<'v, 'a>(view: &'v PlanView<'a>) -> (Nodes<'v, 'a>, Vec<(&'v str, Nodes<'v, 'a>)>) {
    let mut here = Vec::new();
    let mut hosts: Vec<(&str, Nodes<'v, 'a>)> = Vec::new();
    for step in &view.steps {
        match step.host.as_deref() {
            None => here.push(step),
            Some(host) => match hosts.iter_mut().find(|(h, _)| *h == host) {
                Some((_, steps)) => steps.push(step),
                None => hosts.push((host, vec![step])),
            },
        }
    }
    (here, hosts)
}

fn edges<'v>(view: &'v PlanView<'_>) -> impl Iterator<Item = (usize, usize)> + 'v {
    view.steps.iter().flat_map(move |step| {
        step.needs.iter().filter_map(move |need| {
            let from = view.steps.iter().find(|s| s.name == *need)?;
            Some((from.index, step.index))
        })
    })
}

pub(crate) fn dot(view: &PlanView) -> String {
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box];\n",
        quote(&view.runbook)
    );
    let node = |out: &mut String, indent: &str, step: &NodeView| {
        let shape = if step.kind == "restart" {
            ", style=rounded"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{indent}n{} [label=\"{}\\n{}\"{shape}];",
            step.index,
            quote(step.name),
            step.kind
        );
    };
    let (here, hosts) = by_host(view);
    for step in here {
        node(&mut out, "  ", step);
    }
    for (i, (host, steps)) in hosts.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_host{i} {{\n    label=\"{}\";",
            quote(host)
        );
        for step in steps {
            node(&mut out, "    ", step);
        }
        out.push_str("  }\n");
    }
    for (from, to) in edges(view) {
        let _ = writeln!(out, "  n{from} -> n{to};");
    }
    out.push_str("}\n");
    out
}

pub(crate) fn mermaid(view: &PlanView) -> String {
    let mut out = String::from("flowchart LR\n");
    let node = |out: &mut String, indent: &str, step: &NodeView| {
        let _ = writeln!(
            out,
            "{indent}n{}[\"{} ({})\"]",
            step.index,
            step.name.replace('"', "'"),
            step.kind
        );
    };
    let (here, hosts) = by_host(view);
    for step in here {
        node(&mut out, "  ", step);
    }
    for (i, (host, steps)) in hosts.iter().enumerate() {
        let _ = writeln!(out, "  subgraph host{i}[\"{}\"]", host.replace('"', "'"));
        for step in steps {
            node(&mut out, "    ", step);
        }
        out.push_str("  end\n");
    }
    for (from, to) in edges(view) {
        let _ = writeln!(out, "  n{from} --> n{to}");
    }
    out
}
