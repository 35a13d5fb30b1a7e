//! Owns the load generator's counts: per check ok / failed / rejected, the reasons, and the
//! longest gap between two successful responses, reported as one JSON document.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};

use crate::probe::Verdict;

/// Reasons kept per check: enough to see what went wrong, bounded under any load.
const MAX_REASONS: usize = 8;

#[derive(Default)]
struct Counts {
    ok: u64,
    failed: u64,
    rejected: u64,
    /// Failure and rejection reasons with how often each occurred.
    reasons: BTreeMap<String, u64>,
}

pub(crate) struct Tally {
    started: Instant,
    checks: BTreeMap<&'static str, Counts>,
    last_success: Option<Instant>,
    longest_gap_ms: u128,
}

impl Tally {
    pub(crate) fn new() -> Tally {
        Tally {
            started: Instant::now(),
            checks: BTreeMap::new(),
            last_success: None,
            longest_gap_ms: 0,
        }
    }

    pub(crate) fn requests(&self) -> u64 {
        self.checks
            .values()
            .map(|c| c.ok + c.failed + c.rejected)
            .sum()
    }

    /// Records one verdict. Gaps are measured from the load's start, so an outage at the very
    /// beginning counts as well.
    pub(crate) fn record(&mut self, check: &'static str, verdict: Verdict, at: Instant) {
        let counts = self.checks.entry(check).or_default();
        let reason = match verdict {
            Verdict::Ok => {
                counts.ok += 1;
                let since = self.last_success.unwrap_or(self.started);
                let gap = at.saturating_duration_since(since).as_millis();
                self.longest_gap_ms = self.longest_gap_ms.max(gap);
                self.last_success = Some(self.last_success.map_or(at, |last| last.max(at)));
                return;
            }
            Verdict::Failed(reason) => {
                counts.failed += 1;
                reason
            }
            Verdict::Rejected(reason) => {
                counts.rejected += 1;
                reason
            }
        };
        if counts.reasons.len() < MAX_REASONS || counts.reasons.contains_key(&reason) {
            *counts.reasons.entry(reason).or_default() += 1;
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let sum = |f: fn(&Counts) -> u64| self.checks.values().map(f).sum::<u64>();
        let checks: serde_json::Map<String, Value> = self
            .checks
            .iter()
            .map(|(name, c)| {
                let value = json!({
                    "ok": c.ok, "failed": c.failed, "rejected": c.rejected, "reasons": c.reasons,
                });
                ((*name).to_owned(), value)
            })
            .collect();
        json!({
            "requests": self.requests(),
            "ok": sum(|c| c.ok),
            "failed": sum(|c| c.failed),
            "rejected": sum(|c| c.rejected),
            "longest_gap_ms": u64::try_from(self.longest_gap_ms).unwrap_or(u64::MAX),
            "seconds": (self.started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
            "instances": crate::probe::instances(),
            "checks": checks,
        })
    }

    /// The same counts for a person: a summary line, then one line per check.
    pub(crate) fn to_text(&self) -> String {
        let json = self.to_json();
        let mut text = format!(
            "{} requests in {} s: {} ok, {} failed, {} rejected; longest gap between two \
             successes {} ms; {} service instance(s) answered\n",
            json["requests"],
            json["seconds"],
            json["ok"],
            json["failed"],
            json["rejected"],
            json["longest_gap_ms"],
            json["instances"],
        );
        for (name, c) in &self.checks {
            let reasons: Vec<String> = c.reasons.iter().map(|(r, n)| format!("{r} x{n}")).collect();
            let reasons = if reasons.is_empty() {
                String::new()
            } else {
                format!("  ({})", reasons.join(", "))
            };
            text.push_str(&format!(
                "  {name:<16}{:>6} ok{:>6} failed{:>6} rejected{reasons}\n",
                c.ok, c.failed, c.rejected
            ));
        }
        text
    }
}
