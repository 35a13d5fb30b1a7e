//! The compromise implication graph (`runbook graph`): which secrets rotate together, and
//! which must never, as DOT or Mermaid.

use std::fmt::Write;

/// A secret with the ids it implies and those it conflicts with.
pub(crate) type SecretEdges<'a> = (&'a str, Vec<&'a str>, Vec<&'a str>);

pub(crate) fn dot(secrets: &[SecretEdges<'_>]) -> String {
    let mut out = String::new();
    out.push_str("digraph implications {\n  node [shape=box];\n");
    for (id, _, _) in secrets {
        let _ = writeln!(out, "  \"{id}\";");
    }
    for (id, implies, conflicts) in secrets {
        for to in implies {
            let _ = writeln!(out, "  \"{id}\" -> \"{to}\" [label=\"implies\"];");
        }
        for to in conflicts {
            let _ = writeln!(
                out,
                "  \"{id}\" -> \"{to}\" [label=\"conflicts\", style=dashed, color=red, dir=none];"
            );
        }
    }
    out.push_str("}\n");
    out
}

pub(crate) fn mermaid(secrets: &[SecretEdges<'_>]) -> String {
    let mut out = String::new();
    out.push_str("flowchart LR\n");
    for (id, _, _) in secrets {
        let _ = writeln!(out, "  {}[\"{id}\"]", mermaid_id(id));
    }
    for (id, implies, conflicts) in secrets {
        for to in implies {
            let _ = writeln!(out, "  {} -->|implies| {}", mermaid_id(id), mermaid_id(to));
        }
        for to in conflicts {
            let _ = writeln!(
                out,
                "  {} -.-|conflicts| {}",
                mermaid_id(id),
                mermaid_id(to)
            );
        }
    }
    out
}

fn mermaid_id(id: &str) -> String {
    id.replace('-', "_")
}
