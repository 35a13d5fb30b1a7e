//! Showing a run as it happens: on a terminal, one line per finished step with its status and
//! duration under a live "running" footer; elsewhere one line per event; or JSON lines.
//! Every line passes through the redactor on its way out.

use std::io::Write;
use std::sync::{Mutex, PoisonError};

use crate::events::{Encoded, Event, EventKind, EventSink, Outcome, StepStatus, Stream};
use crate::redact::Redactor;

pub(crate) struct TextView {
    redactor: Redactor,
    terminal: bool,
    color: bool,
    quiet: bool,
    state: Mutex<ViewState>,
}

#[derive(Default)]
struct ViewState {
    /// Steps running now, with their hosts.
    running: Vec<(String, Option<String>)>,
    /// Per step of a fleet (its name without `@host`), the hosts where it finished.
    done_on_hosts: std::collections::HashMap<String, usize>,
    footer_shown: bool,
}

impl TextView {
    pub(crate) fn new(redactor: Redactor, terminal: bool, color: bool, quiet: bool) -> Self {
        Self {
            redactor,
            terminal,
            color,
            quiet,
            state: Mutex::default(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// The line an event shows as, if any: on a terminal the footer shows what is running,
    /// and `-q` drops the output of steps.
    fn line(&self, event: &Event) -> Option<String> {
        Some(match &event.kind {
            EventKind::RunStarted {
                run_id,
                runbook,
                mode,
                secrets,
                steps,
                phase,
            } => {
                let rotates = match secrets.as_slice() {
                    [] => String::new(),
                    secrets => format!(" — rotates {}", secrets.join(", ")),
                };
                let phase = phase
                    .as_deref()
                    .map_or(String::new(), |p| format!(", {p} phase"));
                format!("run {run_id}: {runbook} ({mode}{phase}){rotates} — {steps} steps")
            }
            EventKind::StepStarted { .. } if self.terminal => return None,
            EventKind::StepStarted {
                step,
                kind,
                attempt,
            } => match attempt {
                0 | 1 => format!("  ▶ {step} ({kind})"),
                _ => format!("  ▶ {step} ({kind}, attempt {attempt})"),
            },
            EventKind::StepOutput { .. } if self.quiet => return None,
            EventKind::StepOutput { step, stream, line } => match stream {
                Stream::Stderr => format!("    ! {step}: {line}"),
                Stream::Stdout => format!("    │ {step}: {line}"),
            },
            EventKind::StepRetry {
                step,
                attempt,
                error,
                ..
            } => format!("  ↻ {step}: attempt {attempt} failed: {error}"),
            EventKind::StepFinished {
                step,
                kind,
                status,
                duration_ms,
                error,
                ..
            } => self.finished(step, kind, *status, *duration_ms, error.as_deref()),
            EventKind::Operator {
                step,
                instructions,
                acknowledged_by,
            } => for_operator(step, instructions, acknowledged_by),
            EventKind::OperatorInput { step, name, .. } => {
                format!("  ☞ {step} — `{name}` recorded for the report")
            }
            EventKind::Warning { step, message } => {
                let warning = self.paint("33", "warning:");
                match step {
                    Some(step) => format!("  {warning} {step}: {message}"),
                    None => format!("  {warning} {message}"),
                }
            }
            EventKind::CompensationStarted { step, action } => format!("  ↶ undo {step}: {action}"),
            EventKind::CompensationFinished { step, ok: true, .. } => {
                format!("  ↶ {step}: undone")
            }
            EventKind::CompensationFinished { step, error, .. } => format!(
                "  {} {step}: NOT undone: {}",
                self.paint("31", "↶"),
                error.as_deref().unwrap_or("failed")
            ),
            EventKind::RunFinished {
                outcome,
                exit_code,
                summary,
            } => format!("{} (exit {exit_code}): {summary}", self.outcome(*outcome)),
        })
    }

    /// How a step ended.
    fn finished(
        &self,
        step: &str,
        kind: &str,
        status: StepStatus,
        duration_ms: u64,
        error: Option<&str>,
    ) -> String {
        let seconds = format!("{:.1}s", duration_ms as f64 / 1000.0);
        match status {
            StepStatus::Done => format!("  {} {step} ({kind}) {seconds}", self.paint("32", "✓")),
            StepStatus::Skipped => format!("  – {step} ({kind}) skipped: `when` is false"),
            StepStatus::Awaiting => format!(
                "  {} {step} ({kind}) awaiting the operator",
                self.paint("33", "…")
            ),
            StepStatus::Failed => format!(
                "  {} {step} ({kind}) {seconds}: {}",
                self.paint("31", "✗"),
                error.unwrap_or("failed")
            ),
        }
    }

    fn outcome(&self, outcome: Outcome) -> String {
        match outcome {
            Outcome::Done => self.paint("32", "done"),
            Outcome::RolledBack => self.paint("33", "rolled back"),
            Outcome::NeedsOperator => self.paint("31", "NEEDS AN OPERATOR"),
            Outcome::Paused => self.paint("31", "PAUSED"),
            Outcome::Interrupted => self.paint("33", "interrupted"),
            Outcome::AwaitingOperator => self.paint("33", "AWAITING THE OPERATOR"),
            Outcome::WaitingForRetire => self.paint("32", "waiting for retire"),
        }
    }
}

impl EventSink for TextView {
    fn emit(&self, event: &Event, _: &Encoded<'_>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &event.kind {
            EventKind::StepStarted { step, .. } => {
                state.running.push((step.clone(), event.host.clone()));
            }
            EventKind::StepFinished { step, .. } => {
                state.running.retain(|(s, _)| s != step);
                if let Some(base) = event
                    .host
                    .as_ref()
                    .and_then(|host| step.strip_suffix(&format!("@{host}")))
                {
                    *state.done_on_hosts.entry(base.to_string()).or_default() += 1;
                }
            }
            _ => {}
        }
        let mut out = std::io::stdout().lock();
        if self.terminal && state.footer_shown {
            let _ = write!(out, "\r\x1b[K");
            state.footer_shown = false;
        }
        if let Some(line) = self
            .line(event)
            .filter(|_| !self.quiet || shown_when_quiet(event))
        {
            let _ = writeln!(out, "{}", self.redactor.redact(&line));
        }
        let finished = matches!(event.kind, EventKind::RunFinished { .. });
        if self.terminal && !self.quiet && !finished && !state.running.is_empty() {
            // Cut after redaction: a cut secret could no longer be recognised and masked.
            let redacted: Vec<String> = super::footer::fold(&state.running, &state.done_on_hosts)
                .iter()
                .map(|entry| self.redactor.redact(entry))
                .collect();
            let footer = super::footer::footer(&redacted, super::footer::terminal_columns());
            let _ = write!(out, "{footer}");
            state.footer_shown = true;
        }
        let _ = out.flush();
    }
}

/// What a manual step asked of the operator, indented under its step.
fn for_operator(step: &str, instructions: &str, acknowledged_by: &str) -> String {
    let body: Vec<String> = instructions
        .trim()
        .lines()
        .map(|l| format!("      {l}"))
        .collect();
    format!(
        "  ☞ {step} — for the operator (confirmed by {acknowledged_by}):\n{}",
        body.join("\n")
    )
}

/// What `-q` keeps: failures, what went wrong while undoing, warnings, and what the operator
/// must do by hand. A run that succeeds prints nothing.
fn shown_when_quiet(event: &Event) -> bool {
    match &event.kind {
        EventKind::StepFinished { status, .. } => {
            matches!(status, StepStatus::Failed | StepStatus::Awaiting)
        }
        EventKind::CompensationFinished { ok, .. } => !ok,
        EventKind::RunFinished { outcome, .. } => {
            !matches!(outcome, Outcome::Done | Outcome::WaitingForRetire)
        }
        EventKind::Warning { .. } | EventKind::Operator { .. } => true,
        _ => false,
    }
}

/// One JSON object per event, for automation: the emitter's JSON, already redacted.
pub(crate) struct JsonLines;

impl EventSink for JsonLines {
    fn emit(&self, _: &Event, encoded: &Encoded<'_>) {
        let Some(json) = encoded.json() else {
            return;
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{json}");
        let _ = out.flush();
    }
}

/// Tracing at `-v`/`RUST_LOG`, through the redactor like everything else.
pub(crate) struct TraceSink;

impl EventSink for TraceSink {
    fn emit(&self, event: &Event, _: &Encoded<'_>) {
        match &event.kind {
            EventKind::StepOutput { step, line, .. } => {
                tracing::trace!(step = %step, line = %line, "output")
            }
            kind => tracing::debug!(event = ?kind, "event"),
        }
    }
}
