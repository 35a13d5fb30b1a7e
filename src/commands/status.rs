//! `runbook status` (due and overdue secrets; `--check` for cron) and `runbook history`
//! (the audit log).

use std::fmt::Write;

use super::{Format, Global, Outcome, open_lenient, write_stdout};
use crate::diagnostic::Problem;
use crate::exit;
use crate::state::StateDir;
use crate::status::{prometheus, statuses};

pub fn run(global: &Global, format: Format, check: bool) -> Outcome {
    let (project, library) = open_lenient(global)?;
    let rotations = crate::audit::rotations(&StateDir::new(&project.state_dir));
    let list = statuses(&library, &rotations, jiff::Timestamp::now());
    let text = match format {
        Format::Text => {
            let mut out = format!(
                "{:<18} {:<22} {:<22} {:<22} {}\n",
                "SECRET", "POLICY", "LAST ROTATED", "NEXT DUE", "STATE"
            );
            for s in &list {
                let state = if s.overdue && s.last_rotated.is_none() {
                    "OVERDUE (never rotated)".to_string()
                } else if s.overdue {
                    format!("OVERDUE by {} days", s.overdue_days)
                } else if s.next_due.is_none() {
                    "no due date".to_string()
                } else {
                    "ok".to_string()
                };
                let day = |t: &Option<String>| {
                    t.as_deref()
                        .map_or("-".to_string(), |t| t.chars().take(10).collect())
                };
                let _ = writeln!(
                    out,
                    "{:<18} {:<22} {:<22} {:<22} {state}",
                    s.secret,
                    s.policy,
                    day(&s.last_rotated),
                    day(&s.next_due)
                );
            }
            out
        }
        Format::Json => {
            let mut json =
                serde_json::to_string_pretty(&list).expect("statuses serialise; this is a bug");
            json.push('\n');
            json
        }
        Format::Prometheus => prometheus(&list),
        _ => {
            return Err(Problem::new(
                "runbook::usage::format",
                "`status` prints text, json or prometheus",
            )
            .into());
        }
    };
    write_stdout(text.as_bytes())?;
    Ok(if check && list.iter().any(|s| s.overdue) {
        exit::FAILED
    } else {
        exit::DONE
    })
}

pub fn history(global: &Global, format: Format) -> Outcome {
    // The audit log needs no runbook: a missing or broken runbooks/ directory is no reason
    // to hide who rotated what.
    let project = crate::project::Project::open(&super::project_options(global))?;
    let entries = crate::audit::read(&StateDir::new(&project.state_dir));
    let text = match format {
        Format::Text => {
            let mut out = format!(
                "{:<26} {:<16} {:<15} {:<9} {:<12} {}\n",
                "ENDED", "SECRET", "OUTCOME", "MODE", "OPERATOR", "RUN"
            );
            for e in &entries {
                let _ = writeln!(
                    out,
                    "{:<26} {:<16} {:<15} {:<9} {:<12} {}",
                    e.ended, e.secret, e.outcome, e.mode, e.operator, e.run_id
                );
            }
            out
        }
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&entries)
                .expect("audit entries serialise; this is a bug");
            json.push('\n');
            json
        }
        _ => {
            return Err(
                Problem::new("runbook::usage::format", "`history` prints text or json").into(),
            );
        }
    };
    write_stdout(text.as_bytes())
}
