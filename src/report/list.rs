//! The `list` table: each runbook, its secret, env names, policy and impact.

use std::fmt::Write;

use serde::Serialize;

use crate::project::Library;

#[derive(Serialize)]
pub struct Row {
    pub runbook: String,
    pub description: Option<String>,
    pub mode: &'static str,
    pub secret: Option<String>,
    pub env: Vec<String>,
    pub policy: Option<String>,
    pub impact: Option<String>,
    pub implies: Vec<String>,
}

pub fn rows(library: &Library) -> Vec<Row> {
    let mut rows: Vec<Row> = library
        .runbooks
        .iter()
        .map(|loaded| {
            let runbook = &loaded.value;
            let secret = runbook.secret.as_ref();
            Row {
                runbook: runbook.name.value.clone(),
                description: runbook.description.clone(),
                mode: runbook.mode.as_str(),
                secret: secret.map(|s| s.id.value.clone()),
                env: secret
                    .map(|s| s.env.iter().map(|e| e.value.clone()).collect())
                    .unwrap_or_default(),
                policy: secret.map(|s| s.every.to_string()),
                impact: secret.map(|s| s.impact.clone()),
                implies: secret
                    .map(|s| s.implies.iter().map(|i| i.value.clone()).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.runbook.cmp(&b.runbook));
    rows
}

pub fn text(rows: &[Row]) -> String {
    let header = ["RUNBOOK", "SECRET", "ENV", "POLICY", "IMPACT"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.runbook.clone(),
                r.secret.clone().unwrap_or_else(|| "-".into()),
                if r.env.is_empty() {
                    "-".into()
                } else {
                    r.env.join(",")
                },
                r.policy.clone().unwrap_or_else(|| format!("({})", r.mode)),
                r.impact
                    .clone()
                    .unwrap_or_else(|| r.description.clone().unwrap_or_default()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, row: [&str; 5]| {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
    };
    line(&mut out, header);
    for row in &cells {
        line(&mut out, [&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    out
}

pub fn json(rows: &[Row]) -> String {
    let mut text =
        serde_json::to_string_pretty(rows).expect("list rows always serialise; this is a bug");
    text.push('\n');
    text
}
