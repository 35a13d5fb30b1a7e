//! `runbook plan RUNBOOK`: the exact DAG a run would execute, shown without running it.

use super::{Global, Outcome, PlanFormat, RunOptions, open_planned, write_stdout};
use crate::plan::PlanRequest;
use crate::report::plan;

pub(super) fn request(options: &RunOptions) -> PlanRequest {
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

pub(super) fn run(global: &Global, options: &RunOptions, format: PlanFormat) -> Outcome {
    let (project, library, built) = open_planned(global, &request(options))?;
    let view = plan::view(&project, &library, &built, &request(options).inputs);
    let text = match format {
        PlanFormat::Text => plan::text(&view),
        PlanFormat::Json => plan::json(&view),
        PlanFormat::Dot => crate::report::plan_graph::dot(&view),
        PlanFormat::Mermaid => crate::report::plan_graph::mermaid(&view),
    };
    write_stdout(text.as_bytes())
}
