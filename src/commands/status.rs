//! `runbook status` (due and overdue secrets; `--check` for cron) and `runbook history`
//! (the audit log).

use super::{Global, ListFormat, Outcome, StatusFormat, open_lenient, write_stdout};
use crate::exit;
use crate::report::status::{history_json, history_text, prometheus, status_json, status_text};
use crate::state::StateDir;
use crate::status::statuses;

pub(super) fn run(global: &Global, format: StatusFormat, check: bool) -> Outcome {
    let (project, library) = open_lenient(global)?;
    let rotations = crate::audit::rotations(&StateDir::new(&project.state_dir));
    let list = statuses(&library, &rotations, jiff::Timestamp::now());
    let text = match format {
        StatusFormat::Text => status_text(&list),
        StatusFormat::Json => status_json(&list),
        StatusFormat::Prometheus => prometheus(&list),
    };
    write_stdout(text.as_bytes())?;
    Ok(if check && list.iter().any(|s| s.overdue) {
        exit::FAILED
    } else {
        exit::DONE
    })
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
