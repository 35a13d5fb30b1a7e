//! A plan view as text for people and as JSON for tools.

use std::fmt::Write;

use super::plan::PlanView;

pub(crate) fn text(view: &PlanView) -> String {
    let mut out = String::new();
    let _ = write!(out, "plan: {}", view.runbook);
    if let Some(secret) = &view.secret {
        let _ = write!(out, " --secret {secret}");
    }
    let _ = writeln!(
        out,
        " ({} mode{})",
        view.mode,
        if view.mode == "incident" {
            ": a failure pauses the run, nothing compromised is restored"
        } else {
            ": a failure rolls everything back"
        }
    );
    if !view.secrets.is_empty() {
        let _ = writeln!(out, "\nrotates:");
        for s in &view.secrets {
            let _ = writeln!(out, "  {} ({}) via {}", s.id, s.env.join(", "), s.runbook);
            let _ = writeln!(out, "    impact: {}", s.impact);
        }
    }
    if let Some(retire) = &view.retire {
        let _ = writeln!(out, "\nretire phase: {}", retire.when);
    }
    let _ = writeln!(out, "\nsteps, in order:");
    let width = view.steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for step in &view.steps {
        if view.point_of_no_return.as_deref() == Some(step.name.as_str()) {
            let _ = writeln!(
                out,
                "  ── point of no return: the run asks before this step unless --yes ──"
            );
        }
        let _ = writeln!(
            out,
            "  {:>3}. {:<width$}  {:<8}  {}",
            step.index, step.name, step.kind, step.change
        );
        if !step.needs.is_empty() {
            let _ = writeln!(
                out,
                "       {:<width$}  needs     {}",
                "",
                step.needs.join(", ")
            );
        }
        if let Some(description) = &step.description {
            let _ = writeln!(out, "       {:<width$}  why       {description}", "");
        }
        if let Some(when) = &step.when {
            let _ = writeln!(out, "       {:<width$}  when      {when}", "");
        }
        if step.phase == Some("retire") {
            let _ = writeln!(out, "       {:<width$}  phase     retire", "");
        }
        if !step.skipped {
            let _ = writeln!(out, "       {:<width$}  rollback  {}", "", step.rollback);
        }
    }
    if !view.notes.is_empty() {
        let _ = writeln!(out, "\nnotes:");
        for note in &view.notes {
            let _ = writeln!(out, "  - {note}");
        }
    }
    out
}

pub(crate) fn json(view: &PlanView) -> String {
    let mut text =
        serde_json::to_string_pretty(view).expect("a plan view always serialises; this is a bug");
    text.push('\n');
    text
}
