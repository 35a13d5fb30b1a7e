//! The few lines an operator at a terminal reads before a run acts (like `terraform apply`):
//! what rotates, how many steps, which services restart, what needs a person, and where the
//! point of no return is. `runbook plan` shows the whole plan.

use std::fmt::Write;

use crate::checked::Library;
use crate::checked::StepKind;
use crate::plan::{Plan, Work};

pub(crate) fn run_summary(plan: &Plan, library: &Library) -> String {
    let mut restarts = Vec::new();
    let mut manual = Vec::new();
    let mut irreversible = Vec::new();
    for node in &plan.nodes {
        match &node.work {
            Work::Restart { services, .. } => restarts.push(services.join(", ")),
            Work::Step(rb, si) => {
                let step = library.runbook(*rb).step(*si);
                if matches!(step.kind, StepKind::Manual(_)) {
                    manual.push(node.name.clone());
                }
                if step.irreversible {
                    irreversible.push(node.name.clone());
                }
            }
        }
    }
    let list = |items: &[String]| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join("; ")
        }
    };
    let secrets = plan.secrets(library);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "runbook {} will run {} steps.",
        library.runbook(plan.root).name.value,
        plan.nodes.len()
    );
    let _ = writeln!(
        out,
        "  secrets rotated:    {}",
        if secrets.is_empty() {
            "none".to_string()
        } else {
            secrets.join(", ")
        }
    );
    let _ = writeln!(out, "  restarts:           {}", list(&restarts));
    let _ = writeln!(out, "  manual steps:       {}", list(&manual));
    let _ = writeln!(out, "  point of no return: {}", list(&irreversible));
    let _ = writeln!(
        out,
        "`runbook plan` shows every step; `--dry-run` shows the edits."
    );
    out
}
