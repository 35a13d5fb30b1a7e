//! `runbook status` (due and overdue secrets; `--check` for cron) and `runbook history`
//! (the audit log).

use super::{Global, ListFormat, Outcome, StatusFormat, open_lenient, write_stdout};
use crate::exit;
use crate::journal::Record;
use crate::report::status::{history_json, history_text, prometheus, status_json, status_text};
use crate::state::StateDir;
use crate::status::statuses;

pub(super) fn run(global: &Global, format: StatusFormat, check: bool) -> Outcome {
    let (project, library) = open_lenient(global)?;
    let state = StateDir::new(&project.state_dir);
    let rotations = crate::audit::rotations(&state);
    let list = statuses(&library, &rotations, jiff::Timestamp::now());
    let text = match format {
        StatusFormat::Text => status_text(&list),
        StatusFormat::Json => status_json(&list),
        StatusFormat::Prometheus => prometheus(&list),
    };
    write_stdout(text.as_bytes())?;
    if let Some(note) = unfinished_note(&state) {
        // On stdout beside the table; beside JSON or metrics it would break the format.
        if format == StatusFormat::Text {
            write_stdout(format!("\n{note}\n").as_bytes())?;
        } else {
            eprintln!("{note}");
        }
    }
    Ok(
        if check && list.iter().any(|s| s.overdue || s.retire_overdue) {
            exit::FAILED
        } else {
            exit::DONE
        },
    )
}

/// The run that did not finish, if any, and the two ways out of it: until one is taken, no
/// other run can start.
fn unfinished_note(state: &StateDir) -> Option<String> {
    let id = crate::exec::sweep::unfinished_run(state)?;
    let records = crate::journal::read_journal(&state.journal_path(&id)).unwrap_or_default();
    let runbook = match records.first() {
        Some(Record::Begin { runbook, .. }) => format!(" ({runbook})"),
        _ => String::new(),
    };
    let awaited = awaited_steps(&records);
    if awaited.is_empty() {
        return Some(format!(
            "unfinished run {id}{runbook}: `runbook resume {id}` to finish it, or `runbook abort {id}` to roll it back"
        ));
    }
    Some(format!(
        "run {id}{runbook} is awaiting the operator at {}: do it, then `runbook resume {id}` (or `--done STEP` off a terminal), or `runbook abort {id}` to roll it back",
        awaited
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The manual steps a run stopped at and nobody has answered since: an `awaiting` record
/// with no later intent or result for the same step.
fn awaited_steps(records: &[Record]) -> Vec<String> {
    let mut awaited: Vec<(usize, String)> = Vec::new();
    for record in records {
        match record {
            Record::Awaiting { node, name } => awaited.push((*node, name.clone())),
            Record::Intent { node, .. }
            | Record::Started { node }
            | Record::Done { node, .. }
            | Record::Failed { node, .. } => {
                awaited.retain(|(n, _)| n != node);
            }
            _ => {}
        }
    }
    awaited.into_iter().map(|(_, name)| name).collect()
}

pub(super) fn history(global: &Global, format: ListFormat) -> Outcome {
    // The audit log needs no runbook: a missing or broken runbooks/ directory is no reason
    // to hide who rotated what.
    let project = crate::project::Project::open(&super::project_options(global))?;
    let entries = crate::audit::read(&StateDir::new(&project.state_dir));
    let text = match format {
        ListFormat::Text => history_text(&entries),
        ListFormat::Json => history_json(&entries),
    };
    write_stdout(text.as_bytes())
}
