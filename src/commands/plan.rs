//! `runbook plan RUNBOOK`: the exact DAG a run would execute, shown without running it.

use std::io::Write;

use super::{Global, Outcome, PlanFormat, RunOptions, open_planned};
use crate::exit;
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
    // The text and JSON views are written as they are rendered, never held whole.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let written = match format {
        PlanFormat::Text => plan::write_text(&view, &mut out),
        PlanFormat::Json => plan::write_json(&view, &mut out),
        PlanFormat::Dot => out.write_all(crate::report::plan_graph::dot(&view).as_bytes()),
        PlanFormat::Mermaid => out.write_all(crate::report::plan_graph::mermaid(&view).as_bytes()),
    };
    // A closed pipe (`runbook plan x | head`) is not an error worth a message.
    let _ = written.and_then(|()| out.flush());
    Ok(exit::DONE)
}
