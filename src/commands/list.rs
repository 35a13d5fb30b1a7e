//! `runbook list`: the runbooks and the secrets they rotate.

use super::{Global, ListFormat, Outcome, open_lenient, write_stdout};
use crate::report::list;

pub(super) fn run(global: &Global, format: ListFormat) -> Outcome {
    let (project, library) = open_lenient(global)?;
    let rotations = crate::audit::rotations(&crate::state::StateDir::new(&project.state_dir));
    let statuses = crate::status::statuses(&library, &rotations, jiff::Timestamp::now());
    let rows = list::rows(&library, &statuses);
    let text = match format {
        ListFormat::Text => list::text(&rows),
        ListFormat::Json => list::json(&rows),
    };
    write_stdout(text.as_bytes())
}
