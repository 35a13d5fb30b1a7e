//! The events a run emits. The executor never prints: the terminal view, JSON lines, the
//! journal and the incident report all consume these.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::failure::ErrorKind;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Event {
    /// RFC 3339 wall-clock time.
    pub at: String,
    /// Time since the run started.
    pub elapsed_ms: u64,
    /// The inventory host the event's step runs on; absent for this machine and for events
    /// of no step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StepStatus {
    Done,
    Skipped,
    Failed,
    /// A manual step that needs a person and found none: it waits for `resume`.
    Awaiting,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    Done,
    RolledBack,
    NeedsOperator,
    Paused,
    Interrupted,
    /// Every step that could run did; the rest waits for a person (`resume`).
    AwaitingOperator,
    /// The activate phase is done: the new value is in use, the old one still verifies
    /// until `runbook retire` runs the retire phase (not the end of the run).
    WaitingForRetire,
}

/// Every string in an event is shown to people or stored: consumers pass each one through
/// the redactor before it leaves the process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum EventKind {
    RunStarted {
        run_id: String,
        runbook: String,
        mode: String,
        secrets: Vec<String>,
        steps: usize,
        /// `activate` or `retire` for a run with an overlap.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<String>,
    },
    StepStarted {
        step: String,
        kind: String,
        attempt: u32,
    },
    StepOutput {
        step: String,
        stream: Stream,
        line: String,
    },
    StepRetry {
        step: String,
        attempt: u32,
        error: String,
        /// What kind of failure the try had (absent from journals written before kinds).
        #[serde(default)]
        error_kind: Option<ErrorKind>,
    },
    StepFinished {
        step: String,
        kind: String,
        status: StepStatus,
        duration_ms: u64,
        error: Option<String>,
        #[serde(default)]
        error_kind: Option<ErrorKind>,
    },
    /// Instructions for the operator (a manual step, or a manual rollback).
    Operator {
        step: String,
        instructions: String,
        acknowledged_by: String,
    },
    /// What the operator entered for a manual step's input that is not secret (findings, an
    /// account id): it belongs in the report.
    OperatorInput {
        step: String,
        name: String,
        value: String,
    },
    Warning {
        step: Option<String>,
        message: String,
    },
    CompensationStarted {
        step: String,
        action: String,
    },
    CompensationFinished {
        step: String,
        ok: bool,
        error: Option<String>,
        #[serde(default)]
        error_kind: Option<ErrorKind>,
    },
    RunFinished {
        outcome: Outcome,
        exit_code: u8,
        summary: String,
    },
}

impl EventKind {
    /// The plan node the event is about, if any.
    pub(crate) fn step(&self) -> Option<&str> {
        match self {
            EventKind::StepStarted { step, .. }
            | EventKind::StepOutput { step, .. }
            | EventKind::StepRetry { step, .. }
            | EventKind::StepFinished { step, .. }
            | EventKind::Operator { step, .. }
            | EventKind::OperatorInput { step, .. }
            | EventKind::CompensationStarted { step, .. }
            | EventKind::CompensationFinished { step, .. } => Some(step),
            EventKind::Warning { step, .. } => step.as_deref(),
            EventKind::RunStarted { .. } | EventKind::RunFinished { .. } => None,
        }
    }
}

/// Where events go.
pub(crate) trait EventSink: Send + Sync {
    /// `encoded` is the event's redacted JSON, made once for every sink that writes it.
    fn emit(&self, event: &Event, encoded: &Encoded<'_>);
}

/// An event's JSON, through the redactor, made on first use: the JSON lines on stdout and the
/// journal's timeline both need it, and making it twice was a fifth of a short step's CPU.
pub(crate) struct Encoded<'a> {
    event: &'a Event,
    redactor: &'a crate::redact::Redactor,
    json: std::cell::OnceCell<Option<String>>,
}

impl Encoded<'_> {
    pub(crate) fn json(&self) -> Option<&str> {
        self.json
            .get_or_init(|| {
                serde_json::to_string(self.event)
                    .ok()
                    .map(|json| self.redactor.redact(&json))
            })
            .as_deref()
    }
}

/// Stamps events with their time and hands them to every sink. It keeps nothing: the
/// incident report reads the timeline back from the journal, so memory does not grow with a
/// step's output.
#[derive(Clone)]
pub(crate) struct Emitter {
    started: Instant,
    redactor: crate::redact::Redactor,
    sinks: Arc<Vec<Arc<dyn EventSink>>>,
    /// The host of each plan node that runs on one, by node name.
    hosts: Arc<std::collections::HashMap<String, String>>,
}

impl Emitter {
    pub(crate) fn new(sinks: Vec<Arc<dyn EventSink>>, redactor: &crate::redact::Redactor) -> Self {
        Self {
            started: Instant::now(),
            redactor: redactor.clone(),
            sinks: Arc::new(sinks),
            hosts: Arc::default(),
        }
    }

    /// Stamps each event of a step with the host its plan node runs on (`hosts`: node name
    /// to host), so JSON consumers need not parse `step@host`.
    pub(crate) fn with_hosts(mut self, hosts: std::collections::HashMap<String, String>) -> Self {
        self.hosts = Arc::new(hosts);
        self
    }

    pub(crate) fn emit(&self, kind: EventKind) {
        let host = kind.step().and_then(|step| self.hosts.get(step)).cloned();
        let event = Event {
            at: now_text(),
            elapsed_ms: duration_ms(self.started.elapsed()),
            host,
            kind,
        };
        let encoded = Encoded {
            event: &event,
            redactor: &self.redactor,
            json: std::cell::OnceCell::new(),
        };
        for sink in self.sinks.iter() {
            sink.emit(&event, &encoded);
        }
    }
}

/// Now, to the millisecond, as RFC 3339: precise enough for a timeline, short enough to read.
pub(crate) fn now_text() -> String {
    let now = jiff::Timestamp::now();
    now.round(jiff::Unit::Millisecond)
        .unwrap_or(now)
        .to_string()
}

pub(crate) fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
