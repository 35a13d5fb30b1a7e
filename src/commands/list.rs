//! `runbook list`: the runbooks and the secrets they rotate.

use super::{Format, Global, Outcome, open_lenient, write_stdout};
use crate::diagnostic::Problem;
use crate::report::list;

pub fn run(global: &Global, format: Format) -> Outcome {
    let (project, library) = open_lenient(global)?;
    let rotations = crate::audit::rotations(&crate::state::StateDir::new(&project.state_dir));
    let statuses = crate::status::statuses(&library, &rotations, jiff::Timestamp::now());
    let rows = list::rows(&library, &statuses);
    let text = match format {
        Format::Text => list::text(&rows),
        Format::Json => list::json(&rows),
        _ => {
            return Err(
                Problem::new("runbook::usage::format", "`list` prints text or json").into(),
            );
        }
    };
    write_stdout(text.as_bytes())
}
