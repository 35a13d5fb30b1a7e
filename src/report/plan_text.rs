//! A plan view as text for people and as JSON for tools.

use std::io::Write;

use super::plan::PlanView;

/// The text view as a string (a dry run appends its diffs to it).
pub(crate) fn text(view: &PlanView) -> String {
    let mut out = Vec::new();
    write_text(view, &mut out).expect("writing to memory cannot fail");
    String::from_utf8(out).expect("the plan's text is built from strings; this is a bug")
}

/// Writes the text view to `out` as it goes: a 100,000-step plan's text is 13 MB, which a
/// string would hold (and grow by doubling) before a byte of it was printed.
pub(crate) fn write_text(view: &PlanView, out: &mut impl Write) -> std::io::Result<()> {
    write!(out, "plan: {}", view.runbook)?;
    if let Some(secret) = &view.secret {
        write!(out, " --secret {secret}")?;
    }
    writeln!(
        out,
        " ({} mode{})",
        view.mode,
        if view.mode == "incident" {
            ": a failure pauses the run, nothing compromised is restored"
        } else {
            ": a failure rolls everything back"
        }
    )?;
    if !view.secrets.is_empty() {
        writeln!(out, "\nrotates:")?;
        for s in &view.secrets {
            writeln!(out, "  {} ({}) via {}", s.id, s.env.join(", "), s.runbook)?;
            writeln!(out, "    impact: {}", s.impact)?;
        }
    }
    if let Some(retire) = &view.retire {
        writeln!(out, "\nretire phase: {}", retire.when)?;
    }
    writeln!(out, "\nsteps, in order:")?;
    let width = view.steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for step in &view.steps {
        if view.point_of_no_return.as_deref() == Some(step.name) {
            writeln!(
                out,
                "  ── point of no return: the run asks before this step unless --yes ──"
            )?;
        }
        writeln!(
            out,
            "  {:>3}. {:<width$}  {:<8}  {}",
            step.index, step.name, step.kind, step.change
        )?;
        if !step.needs.is_empty() {
            writeln!(
                out,
                "       {:<width$}  needs     {}",
                "",
                step.needs.join(", ")
            )?;
        }
        if let Some(description) = &step.description {
            writeln!(out, "       {:<width$}  why       {description}", "")?;
        }
        if let Some(when) = &step.when {
            writeln!(out, "       {:<width$}  when      {when}", "")?;
        }
        if step.phase == Some("retire") {
            writeln!(out, "       {:<width$}  phase     retire", "")?;
        }
        if !step.skipped {
            writeln!(out, "       {:<width$}  rollback  {}", "", step.rollback)?;
        }
    }
    if !view.notes.is_empty() {
        writeln!(out, "\nnotes:")?;
        for note in &view.notes {
            writeln!(out, "  - {note}")?;
        }
    }
    Ok(())
}

/// Writes the view as pretty JSON to `out` as it goes, like [`write_text`].
pub(crate) fn write_json(view: &PlanView, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, view)?;
    writeln!(out)
}
