//! `runbook graph`: the compromise implication graph (and conflicts) as DOT or Mermaid.

use super::{Global, GraphFormat, Outcome, open_lenient, write_stdout};
use crate::report::implications::{self, SecretEdges};

pub(super) fn run(global: &Global, format: GraphFormat) -> Outcome {
    let (_, library) = open_lenient(global)?;
    let mut secrets: Vec<SecretEdges<'_>> = Vec::new();
    for runbook in library.runbooks() {
        let Some(secret) = &runbook.secret else {
            continue;
        };
        let id_of = |key: &str| {
            library
                .secret_owner(key)
                .and_then(|r| r.secret.as_ref())
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
    let text = match format {
        GraphFormat::Dot => implications::dot(&secrets),
        GraphFormat::Mermaid => implications::mermaid(&secrets),
    };
    write_stdout(text.as_bytes())
}
