//! `exec`: a command as a `sh -c` string or an argv list, with `stdin`, `env`, `cwd` and
//! `expect`. Secrets reach a child only through stdin or env: a rendered command line that
//! contains one is refused (the checker refuses the template; this refuses the value).

use crate::failure::ErrorKind;
use std::collections::BTreeMap;
use std::time::Duration;

use minijinja::Value;

use super::StepError;
use super::{Done, StepRun};
use crate::events::{EventKind, Stream};
use crate::host::process::{OutputStream, ProcessOutcome, ProcessSpec, Termination};
use crate::model::{Command, ExecSpec};

pub(super) async fn run_step(run: &StepRun, spec: &ExecSpec) -> Result<Done, StepError> {
    let outcome = run_exec(run, spec, step_timeout(run)).await;
    crate::failpoint::hit("after-effect", &run.name);
    let outcome = outcome?;
    Ok(Done {
        outputs: outcome,
        compensation: None,
    })
}

pub(super) fn step_timeout(run: &StepRun) -> Option<Duration> {
    run.step().timeout.as_ref().map(|t| t.value.duration)
}

/// Runs an exec body (a step, a verify, a rollback or a check) and applies its `expect`.
/// Returns the `stdout`, `stderr`, `exit` and `json` outputs.
pub(crate) async fn run_exec(
    run: &StepRun,
    spec: &ExecSpec,
    timeout: Option<Duration>,
) -> Result<Value, StepError> {
    let mut process = process_of(run, spec)?;
    process.timeout = timeout;
    let outcome = run_command(run, &process).await?;
    let code = exit_code(run, outcome.status)?;
    let stdout = String::from_utf8_lossy(&outcome.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&outcome.stderr).into_owned();
    let json = serde_json::from_str::<serde_json::Value>(stdout.trim()).ok();
    expect(run, spec, code, &stdout, json.as_ref())?;
    let mut outputs = BTreeMap::new();
    outputs.insert(
        "json",
        json.as_ref()
            .map_or(Value::from(()), crate::template::value_of),
    );
    outputs.insert("stdout", Value::from(stdout));
    outputs.insert("stderr", Value::from(stderr));
    outputs.insert("exit", Value::from(code));
    Ok(crate::template::value_of(outputs))
}

/// The process an exec body describes, its templates rendered.
fn process_of(run: &StepRun, spec: &ExecSpec) -> Result<ProcessSpec, StepError> {
    let ctx = &run.ctx;
    let mut process = match &spec.run.value {
        Command::Shell(script) => ProcessSpec::shell(run.render(script)?),
        Command::Argv(argv) => {
            let rendered: Vec<String> = argv
                .iter()
                .map(|a| run.render(a))
                .collect::<Result<_, _>>()?;
            let (program, args) = rendered
                .split_first()
                .ok_or_else(|| StepError::new(ErrorKind::Refused, "`run` is an empty list"))?;
            ProcessSpec::new(program.clone(), args.to_vec())
        }
    };
    if let Some(stdin) = &spec.stdin {
        process.stdin = Some(run.render(&stdin.value)?.into_bytes());
    }
    for (name, value) in &spec.env {
        process.env.push((name.clone(), run.render(value)?));
    }
    if run.host_name().is_some() {
        // On a host, a relative `cwd` is relative to the login directory, where the
        // command starts without one.
        process.cwd = match &spec.cwd {
            Some(cwd) => Some(run.resolve(&run.render(cwd)?)),
            None => None,
        };
        return Ok(process);
    }
    let cwd = match &spec.cwd {
        Some(cwd) => ctx.project.resolve(&run.render(cwd)?),
        None => ctx.project.root.clone(),
    };
    // A child inherits our directory; naming it again costs every spawn a chdir.
    process.cwd = (own_dir() != Some(cwd.as_path())).then_some(cwd);
    Ok(process)
}

/// This process's working directory, asked once (a `getcwd` per spawn otherwise): nothing in
/// it changes directory, a child is given its own by `cwd`.
fn own_dir() -> Option<&'static std::path::Path> {
    static DIR: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| std::env::current_dir().ok()).as_deref()
}

/// The code a child exited with; a signal, a timeout or an interrupt is a failure.
fn exit_code(run: &StepRun, status: Termination) -> Result<i32, StepError> {
    match status {
        Termination::Exited(code) => Ok(code),
        Termination::Signaled(signal) => Err(StepError::new(
            ErrorKind::Exit,
            format!("killed by signal {signal}"),
        )),
        Termination::TimedOut => Err(StepError::new(
            ErrorKind::Timeout,
            format!(
                "timed out after {}; its process group was terminated",
                run.step()
                    .timeout
                    .as_ref()
                    .map_or_else(|| "the timeout".to_string(), |t| t.value.to_string())
            ),
        )),
        Termination::Cancelled => Err(StepError::new(
            ErrorKind::Cancelled,
            "interrupted; its process group was terminated",
        )),
    }
}

/// Applies `expect`: the exit code (0 unless given), `stdout_contains`, the `json` expression.
fn expect(
    run: &StepRun,
    spec: &ExecSpec,
    code: i32,
    stdout: &str,
    json: Option<&serde_json::Value>,
) -> Result<(), StepError> {
    let expected_exit = spec.expect.as_ref().and_then(|e| e.exit).unwrap_or(0);
    if code != expected_exit {
        return Err(StepError::new(
            ErrorKind::Exit,
            format!("exited with {code} (expected {expected_exit})"),
        ));
    }
    let Some(expect) = &spec.expect else {
        return Ok(());
    };
    if let Some(needle) = &expect.stdout_contains {
        let needle = run.render(needle)?;
        if !stdout.contains(&needle) {
            return Err(StepError::new(
                ErrorKind::Expectation,
                format!("stdout does not contain `{needle}`"),
            ));
        }
    }
    if let Some(expr) = &expect.json {
        let Some(json) = json else {
            return Err(StepError::new(
                ErrorKind::Expectation,
                "stdout is not JSON, but `expect.json` needs it",
            ));
        };
        let json = Some(("json", crate::template::value_of(json)));
        if !run.eval(&expr.value, json)? {
            return Err(StepError::new(
                ErrorKind::Expectation,
                format!("`expect.json` is false: {}", expr.value),
            ));
        }
    }
    Ok(())
}

/// Spawns a process for a step, refusing a command line that carries a secret, and streams
/// its output as redacted lines.
pub(crate) async fn run_command(
    run: &StepRun,
    process: &ProcessSpec,
) -> Result<ProcessOutcome, StepError> {
    let redactor = &run.ctx.redactor;
    let argv_leaks = std::iter::once(&process.program)
        .chain(&process.args)
        .any(|a| redactor.redact(a) != *a);
    if argv_leaks {
        return Err(StepError::new(
            ErrorKind::Refused,
            "refused: a secret would appear on the command line (visible to every user of the host); pass it through `stdin` or `env`",
        ));
    }
    let mut streams = [
        LineSplitter::new(run, Stream::Stdout),
        LineSplitter::new(run, Stream::Stderr),
    ];
    let mut on_output = |stream: OutputStream, chunk: &[u8]| {
        let index = usize::from(matches!(stream, OutputStream::Stderr));
        streams[index].push(chunk);
    };
    let result = run
        .host()
        .spawn(process, &mut on_output, run.ctx.cancel.clone())
        .await;
    for splitter in &mut streams {
        splitter.finish();
    }
    Ok(result?)
}

/// Turns a child's chunks into redacted lines: the redacting stream first, so a secret split
/// across writes is still caught, then lines, so events are whole lines.
struct LineSplitter<'a> {
    run: &'a StepRun,
    stream: Stream,
    redact: crate::redact::RedactStream,
    pending: Vec<u8>,
}

/// A line longer than this is emitted in pieces rather than held indefinitely.
const MAX_LINE: usize = 16 * 1024;

impl<'a> LineSplitter<'a> {
    fn new(run: &'a StepRun, stream: Stream) -> Self {
        Self {
            run,
            stream,
            redact: run.ctx.redactor.stream(),
            pending: Vec::new(),
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        let safe = self.redact.push(chunk);
        self.pending.extend_from_slice(&safe);
        self.emit_lines(false);
    }

    fn finish(&mut self) {
        let rest = self.redact.finish();
        self.pending.extend_from_slice(&rest);
        self.emit_lines(true);
    }

    /// Emits every complete line; at the end, the unterminated rest too.
    fn emit_lines(&mut self, last: bool) {
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.emit(&line[..line.len() - 1]);
        }
        if self.pending.len() > MAX_LINE || (last && !self.pending.is_empty()) {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
    }

    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.strip_suffix('\r').unwrap_or(&line).to_string();
        self.run.ctx.emitter.emit(EventKind::StepOutput {
            step: self.run.name.clone(),
            stream: self.stream,
            line,
        });
    }
}
