//! A plan as a picture: Graphviz DOT and Mermaid flowcharts of the steps and their needs.

use std::fmt::Write;

use super::plan::PlanView;

fn quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

pub(crate) fn dot(view: &PlanView) -> String {
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box];\n",
        quote(&view.runbook)
    );
    for step in &view.steps {
        let shape = if step.kind == "restart" {
            ", style=rounded"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  n{} [label=\"{}\\n{}\"{shape}];",
            step.index,
            quote(&step.name),
            step.kind
        );
    }
    for step in &view.steps {
        for need in &step.needs {
            if let Some(from) = view.steps.iter().find(|s| &s.name == need) {
                let _ = writeln!(out, "  n{} -> n{};", from.index, step.index);
            }
        }
    }
    out.push_str("}\n");
    out
}

pub(crate) fn mermaid(view: &PlanView) -> String {
    let mut out = String::from("flowchart LR\n");
    for step in &view.steps {
        let _ = writeln!(
            out,
            "  n{}[\"{} ({})\"]",
            step.index,
            step.name.replace('"', "'"),
            step.kind
        );
    }
    for step in &view.steps {
        for need in &step.needs {
            if let Some(from) = view.steps.iter().find(|s| &s.name == need) {
                let _ = writeln!(out, "  n{} --> n{}", from.index, step.index);
            }
        }
    }
    out
}
