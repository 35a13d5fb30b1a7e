//! `runbook graph`: the compromise implication graph (and conflicts) as DOT or Mermaid.

use std::fmt::Write;

use super::{Format, Global, Outcome, open_lenient, write_stdout};
use crate::diagnostic::Problem;

pub fn run(global: &Global, format: Format) -> Outcome {
    let (_, library) = open_lenient(global)?;
    let mut secrets: Vec<(&str, Vec<&str>, Vec<&str>)> = Vec::new();
    for loaded in &library.runbooks {
        let Some(secret) = &loaded.value.secret else {
            continue;
        };
        let id_of = |key: &str| {
            library
                .secret_owner(key)
                .and_then(|r| r.value.secret.as_ref())
                .map(|s| s.id.value.as_str())
        };
        let implies = secret
            .implies
            .iter()
            .filter_map(|i| id_of(&i.value))
            .collect();
        let conflicts = secret
            .conflicts
            .iter()
            .filter_map(|c| id_of(&c.value))
            .collect();
        secrets.push((&secret.id.value, implies, conflicts));
    }
    secrets.sort_by_key(|s| s.0);
    let mut out = String::new();
    match format {
        Format::Dot => {
            out.push_str("digraph implications {\n  node [shape=box];\n");
            for (id, _, _) in &secrets {
                let _ = writeln!(out, "  \"{id}\";");
            }
            for (id, implies, conflicts) in &secrets {
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
        }
        Format::Mermaid => {
            out.push_str("flowchart LR\n");
            for (id, _, _) in &secrets {
                let _ = writeln!(out, "  {}[\"{id}\"]", mermaid_id(id));
            }
            for (id, implies, conflicts) in &secrets {
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
        }
        _ => {
            return Err(
                Problem::new("runbook::usage::format", "`graph` prints dot or mermaid").into(),
            );
        }
    }
    write_stdout(out.as_bytes())
}

fn mermaid_id(id: &str) -> String {
    id.replace('-', "_")
}
