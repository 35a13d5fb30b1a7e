//! `status` and `history` as tables for people, as JSON, and (`status`) as Prometheus
//! metrics.

use std::fmt::Write;

use crate::audit::AuditEntry;
use crate::status::SecretStatus;

/// Due dates, one line per secret.
pub(crate) fn status_text(list: &[SecretStatus]) -> String {
    let mut out = format!(
        "{:<18} {:<22} {:<22} {:<22} {}\n",
        "SECRET", "POLICY", "LAST ROTATED", "NEXT DUE", "STATE"
    );
    for s in list {
        let state = if let Some(due) = &s.retire_due {
            let day: String = due.chars().take(10).collect();
            if s.retire_overdue {
                format!("RETIRE OVERDUE since {day}: `runbook retire {}`", s.secret)
            } else {
                format!("waiting for retire (due {day})")
            }
        } else if s.overdue && s.last_rotated.is_none() {
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

pub(crate) fn status_json(list: &[SecretStatus]) -> String {
    let mut json = serde_json::to_string_pretty(list).expect("statuses serialise; this is a bug");
    json.push('\n');
    json
}

/// The audit log, one line per secret of each run.
pub(crate) fn history_text(entries: &[AuditEntry]) -> String {
    let mut out = format!(
        "{:<26} {:<16} {:<18} {:<9} {:<9} {:<12} {}\n",
        "ENDED", "SECRET", "OUTCOME", "PHASE", "MODE", "OPERATOR", "RUN"
    );
    for e in entries {
        let _ = writeln!(
            out,
            "{:<26} {:<16} {:<18} {:<9} {:<9} {:<12} {}",
            e.ended,
            e.secret,
            e.outcome,
            e.phase.as_deref().unwrap_or("-"),
            e.mode,
            e.operator,
            e.run_id
        );
    }
    out
}

pub(crate) fn history_json(entries: &[AuditEntry]) -> String {
    let mut json =
        serde_json::to_string_pretty(entries).expect("audit entries serialise; this is a bug");
    json.push('\n');
    json
}

/// The Prometheus text exposition format, for node_exporter's textfile collector.
pub(crate) fn prometheus(statuses: &[SecretStatus]) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, value: &dyn Fn(&SecretStatus) -> Option<i64>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for status in statuses {
            if let Some(v) = value(status) {
                out.push_str(&format!(
                    "{name}{{secret=\"{}\"}} {v}\n",
                    status.secret.replace('\\', "\\\\").replace('"', "\\\"")
                ));
            }
        }
    };
    metric(
        "runbook_secret_last_rotation_timestamp_seconds",
        "Unix time of the last completed rotation.",
        &|s| s.last_rotated_seconds,
    );
    metric(
        "runbook_secret_next_due_timestamp_seconds",
        "Unix time the next rotation is due.",
        &|s| s.next_due_seconds,
    );
    metric(
        "runbook_secret_overdue",
        "1 when the secret is past its rotation policy (or was never rotated).",
        &|s| Some(i64::from(s.overdue)),
    );
    metric(
        "runbook_secret_retire_due_timestamp_seconds",
        "Unix time the pending retire phase is due (the old value verifies until it runs).",
        &|s| s.retire_due_seconds,
    );
    metric(
        "runbook_secret_retire_overdue",
        "1 when a retire phase is past due: the old value still verifies after its overlap.",
        &|s| Some(i64::from(s.retire_overdue)),
    );
    out
}
