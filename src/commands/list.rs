//! `runbook list`: the runbooks and the secrets they rotate.

use super::{Format, Global, Outcome, open_checked, write_stdout};
use crate::diagnostic::Problem;
use crate::report::list;

pub fn run(global: &Global, format: Format) -> Outcome {
    let (_, library) = open_checked(global)?;
    let rows = list::rows(&library);
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
