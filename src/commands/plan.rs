//! `runbook plan RUNBOOK`: the exact DAG a run would execute, shown without running it.

use super::{Format, Global, Outcome, RunOptions, open_planned, write_stdout};
use crate::diagnostic::Problem;
use crate::plan::PlanRequest;
use crate::report::plan;

pub fn request(options: &RunOptions) -> PlanRequest {
    PlanRequest {
        runbook: options.runbook.clone(),
        secret: options.secret.clone(),
        // Secret inputs (`@file`) are not needed to plan; literal ones may name rotate targets.
        inputs: options
            .inputs
            .iter()
            .filter(|(_, v)| !v.starts_with('@'))
            .cloned()
            .collect(),
    }
}

pub fn run(global: &Global, options: &RunOptions, format: Format) -> Outcome {
    let (project, library, built) = open_planned(global, &request(options))?;
    let view = plan::view(&project, &library, &built, &request(options).inputs);
    let text = match format {
        Format::Text => plan::text(&view),
        Format::Json => plan::json(&view),
        Format::Dot => crate::report::plan_graph::dot(&view),
        Format::Mermaid => crate::report::plan_graph::mermaid(&view),
        Format::Prometheus => {
            return Err(Problem::new(
                "runbook::usage::format",
                "`plan` prints text, json, dot or mermaid",
            )
            .into());
        }
    };
    write_stdout(text.as_bytes())
}
