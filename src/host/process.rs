//! Spawning one step's child process and owning its whole process tree until the step is over.
//!
//! Every child starts in a process group of its own, so that a timeout or a Ctrl-C can signal
//! everything the step started (guarantee 6: "Timeouts kill the whole tree"). On timeout or
//! cancellation the group gets SIGTERM, the direct child gets `grace` to exit, and then the group
//! gets SIGKILL. If the future running the step is dropped, a guard SIGKILLs the group.
//!
//! Commands, arguments, stdin and environment values can hold secrets, so nothing here logs or
//! Debug-prints them, and error messages name only the program.

use std::fmt;
use std::future::pending;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use std::os::fd::OwnedFd;
use std::process::Command;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::reaper::{Listener, Reaper};

#[cfg(test)]
mod tests;

/// The default time between SIGTERM and SIGKILL.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// How long the pipes are still drained after the direct child has exited. A grandchild that
/// inherited stdout or stderr can keep them open forever, and it must not hang the runner.
pub(crate) const DRAIN_DEADLINE: Duration = Duration::from_millis(200);

/// The size of one read from a pipe, and so the largest chunk passed to `on_output`.
const READ_CHUNK: usize = 16 * 1024;

/// What to run for one step.
#[derive(Clone)]
pub(crate) struct ProcessSpec {
    /// The program, looked up on `PATH` if it has no slash. For a shell string the caller passes
    /// `"sh"` with the arguments `["-c", script]`.
    pub program: String,
    pub args: Vec<String>,
    /// Written to the child's stdin, which is then closed. `None` connects stdin to /dev/null.
    /// This may hold a secret.
    pub stdin: Option<Vec<u8>>,
    /// Added to the inherited environment. Values may hold secrets.
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Measured from the moment the child has been spawned.
    pub timeout: Option<Duration>,
    /// How long the direct child gets between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// The `sh -c` string this spec runs without a shell; if the program cannot be spawned,
    /// the shell runs the string instead (and reports "not found" and 127 its own way).
    pub shell_fallback: Option<String>,
}

impl ProcessSpec {
    /// A spec with no stdin, no extra environment, no timeout and the default grace.
    pub(crate) fn new(
        program: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        ProcessSpec {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            stdin: None,
            env: Vec::new(),
            cwd: None,
            timeout: None,
            grace: DEFAULT_GRACE,
            shell_fallback: None,
        }
    }

    /// A spec that runs `script` as `sh -c` would: directly when it is a plain command
    /// (see [`super::shell`]), else with `sh -c`.
    pub(crate) fn shell(script: impl Into<String>) -> Self {
        let script = script.into();
        match super::shell::direct_argv(&script) {
            Some(mut words) => {
                let program = words.remove(0);
                let mut spec = ProcessSpec::new(program, words);
                spec.shell_fallback = Some(script);
                spec
            }
            None => ProcessSpec::new("sh", ["-c".to_owned(), script]),
        }
    }
}

/// Only the program and the number of arguments are shown: arguments, stdin and environment
/// values can all hold secrets.
impl fmt::Debug for ProcessSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessSpec")
            .field("program", &self.program)
            .field("args", &format_args!("<{} args>", self.args.len()))
            .finish_non_exhaustive()
    }
}

/// Which pipe a chunk of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OutputStream {
    Stdout,
    Stderr,
}

/// How the direct child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Termination {
    /// It exited by itself with this code.
    Exited(i32),
    /// It was killed by this signal, and not by us.
    Signaled(i32),
    /// The timeout expired and the group was terminated.
    TimedOut,
    /// Cancellation was requested and the group was terminated (or never started).
    Cancelled,
}

impl Termination {
    pub(super) fn from_status(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => Termination::Exited(code),
            (None, Some(signal)) => Termination::Signaled(signal),
            // `wait` never reports a stopped or continued child, so this is not expected; the raw
            // status is still more useful to the user than a panic.
            (None, None) => Termination::Exited(status.into_raw()),
        }
    }
}

/// The result of one process run. `stdout` and `stderr` are unredacted, so Debug shows only
/// their lengths.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ProcessOutcome {
    pub status: Termination,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl fmt::Debug for ProcessOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessOutcome")
            .field("status", &self.status)
            .field("stdout", &format_args!("<{} bytes>", self.stdout.len()))
            .field("stderr", &format_args!("<{} bytes>", self.stderr.len()))
            .finish()
    }
}

/// Where a run is between spawning and returning.
enum Phase {
    /// The child runs and may still time out or be cancelled.
    Running,
    /// The group got SIGTERM; it gets SIGKILL at `kill_at` unless the direct child exits first.
    Terminating { kill_at: Instant },
    /// The group got SIGKILL; the direct child is about to be reaped.
    Killed,
    /// The direct child has been reaped; the pipes are drained until EOF or `until`.
    Draining { until: Instant },
}

/// SIGKILLs the process group when dropped while armed.
///
/// It is armed exactly while the direct child (the group leader) is unreaped. An unreaped child
/// keeps its pid, and so its group id, from being recycled, so the guard can never signal a
/// stranger's group.
pub(super) struct GroupGuard {
    pgid: Option<Pid>,
}

impl GroupGuard {
    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH only means the group is already gone, and there is nothing better to do about
            // any other error than to carry on with the escalation.
            let _ = kill_process_group(pgid, signal);
        }
    }

    pub(super) fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(Signal::KILL);
    }
}

/// Runs one process to completion, forwarding output chunks to `on_output` as they arrive.
///
/// On timeout, or when `cancel` becomes true, the process group gets SIGTERM, the direct child
/// gets `spec.grace` to exit, and then the group gets SIGKILL; the result is `TimedOut` or
/// `Cancelled`. If `cancel` is already true, nothing is spawned and the result is `Cancelled`.
///
/// When the direct child exits by itself, the rest of its group is left alone: restart drivers
/// legitimately start daemons (typically in their own session). The pipes are then drained only
/// until EOF or [`DRAIN_DEADLINE`], so a leftover process holding them cannot hang the run.
///
/// An error after spawning (reading or writing a pipe, waiting) SIGKILLs the group before it is
/// returned, as does dropping the returned future before it completes. Errors name the program
/// only. A child stuck in uninterruptible sleep even after SIGKILL is waited for indefinitely.
pub(crate) async fn run_process(
    spec: &ProcessSpec,
    on_output: &mut (dyn FnMut(OutputStream, &[u8]) + Send),
    mut cancel: watch::Receiver<bool>,
) -> io::Result<ProcessOutcome> {
    let mut outcome = ProcessOutcome {
        status: Termination::Cancelled,
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    // A step that was cancelled before it started must not start at all: it may rotate a secret.
    if *cancel.borrow_and_update() {
        return Ok(outcome);
    }

    let Started {
        mut reaper,
        mut guard,
        stdin,
        stdout: mut child_stdout,
        stderr: mut child_stderr,
    } = start_group(spec)?;
    let started = Instant::now();
    let timeout_at = spec.timeout.map(|timeout| started + timeout);
    let mut stdout = child_stdout.take();
    let mut stderr = child_stderr.take();
    // Writing stdin is not cancel safe, so the one future lives across loop iterations.
    let stdin_write = write_stdin(stdin, spec.stdin.as_deref());
    tokio::pin!(stdin_write);
    let mut stdin_done = false;
    // Read into spare capacity: zeroing two 16 KiB buffers was a tenth of a short step's CPU.
    let mut stdout_buf = Vec::with_capacity(READ_CHUNK);
    let mut stderr_buf = Vec::with_capacity(READ_CHUNK);
    let mut phase = Phase::Running;
    // Set when we terminate the group: then the result says why, not which signal it died of.
    let mut terminated_because = None;
    let mut watch_cancel = true;

    // The loop is the state machine of one child's life (running, terminating, killed,
    // draining), and stays whole: every arm reads and moves the same phase and outcome.
    loop {
        let deadline = match phase {
            Phase::Running => timeout_at,
            Phase::Terminating { kill_at } => Some(kill_at),
            Phase::Killed => None,
            Phase::Draining { until } => {
                if stdout.is_none() && stderr.is_none() {
                    break;
                }
                Some(until)
            }
        };
        let running = matches!(phase, Phase::Running);

        tokio::select! {
            read = read_some(&mut stdout, &mut stdout_buf) => {
                let n = read.map_err(|error| failed("read stdout of", spec, error))?;
                if n == 0 {
                    stdout = None;
                } else {
                    on_output(OutputStream::Stdout, &stdout_buf[..n]);
                    outcome.stdout.extend_from_slice(&stdout_buf[..n]);
                }
            }
            read = read_some(&mut stderr, &mut stderr_buf) => {
                let n = read.map_err(|error| failed("read stderr of", spec, error))?;
                if n == 0 {
                    stderr = None;
                } else {
                    on_output(OutputStream::Stderr, &stderr_buf[..n]);
                    outcome.stderr.extend_from_slice(&stderr_buf[..n]);
                }
            }
            written = &mut stdin_write, if !stdin_done => {
                stdin_done = true;
                written.map_err(|error| failed("write stdin of", spec, error))?;
            }
            status = reaper.wait(), if !matches!(phase, Phase::Draining { .. }) => {
                let status = status.map_err(|error| failed("wait for", spec, error))?;
                if matches!(phase, Phase::Terminating { .. }) {
                    // The leader is gone but its group may not be: whatever ignored or outlived
                    // the SIGTERM is killed now rather than after the rest of the grace. The id
                    // stays taken while any member lives; if none does, this finds no group
                    // (barring a new group leader recycling the pid within microseconds).
                    guard.signal(Signal::KILL);
                }
                // Once the leader is reaped and its group empties, the id can be recycled, so the
                // guard must not signal it any more. On a normal exit this also leaves alone any
                // daemon the step started: restart drivers legitimately do that, typically in a
                // session of its own.
                guard.disarm();
                outcome.status = terminated_because.unwrap_or(Termination::from_status(status));
                phase = Phase::Draining { until: Instant::now() + DRAIN_DEADLINE };
            }
            changed = cancel.changed(), if watch_cancel && running => {
                match changed {
                    Ok(()) => {
                        if *cancel.borrow_and_update() {
                            terminated_because = Some(Termination::Cancelled);
                            phase = terminate(&guard, spec.grace);
                        }
                    }
                    // No sender is left, so cancellation can no longer be requested.
                    Err(_) => watch_cancel = false,
                }
            }
            () = sleep_until_some(deadline) => match phase {
                Phase::Running => {
                    terminated_because = Some(Termination::TimedOut);
                    phase = terminate(&guard, spec.grace);
                }
                Phase::Terminating { .. } => {
                    guard.signal(Signal::KILL);
                    phase = Phase::Killed;
                }
                // A leftover process is holding a pipe open; what it writes later is lost.
                Phase::Draining { .. } => break,
                // There is no deadline while killed, so this cannot be reached.
                Phase::Killed => {}
            },
        }
    }
    Ok(outcome)
}

/// A child just spawned: its reaper, the guard over its process group, and our ends of its
/// pipes, registered with the runtime.
pub(super) struct Started {
    pub(super) reaper: Reaper,
    pub(super) guard: GroupGuard,
    pub(super) stdin: Option<pipe::Sender>,
    pub(super) stdout: Option<pipe::Receiver>,
    pub(super) stderr: Option<pipe::Receiver>,
}

/// Spawns the step's program (through `sh -c` when it cannot be spawned directly and the
/// spec allows), and a guard over the new process group.
pub(super) fn start_group(spec: &ProcessSpec) -> io::Result<Started> {
    let listener = Listener::new().map_err(|error| failed("watch", spec, error))?;
    let mut child = match spawn(spec, &spec.program, &spec.args) {
        Err(_) if spec.shell_fallback.is_some() => {
            let script = spec.shell_fallback.clone().unwrap_or_default();
            spawn(spec, "sh", &["-c".to_owned(), script])
        }
        spawned => spawned,
    }
    .map_err(|error| failed("spawn", spec, error))?;
    // With `process_group(0)` the child leads a new group whose id is its pid. Spawning returns
    // only after the child has exec'd, so the group exists by now.
    let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) else {
        return Err(failed("spawn", spec, io::Error::other("no process id")));
    };
    let guard = GroupGuard { pgid: Some(pid) };
    match watch_child(&mut child) {
        Ok((stdin, stdout, stderr)) => Ok(Started {
            reaper: listener.reaper(pid),
            guard,
            stdin,
            stdout,
            stderr,
        }),
        Err(error) => {
            // The guard's drop kills the group; the child is reaped so no zombie is left.
            drop(guard);
            let _ = child.wait();
            Err(failed("watch", spec, error))
        }
    }
}

type Watched = (
    Option<pipe::Sender>,
    Option<pipe::Receiver>,
    Option<pipe::Receiver>,
);

/// Registers our ends of the child's pipes with the runtime.
fn watch_child(child: &mut std::process::Child) -> io::Result<Watched> {
    Ok((
        child.stdin.take().map(|p| sender(p.into())).transpose()?,
        child
            .stdout
            .take()
            .map(|p| receiver(p.into()))
            .transpose()?,
        child
            .stderr
            .take()
            .map(|p| receiver(p.into()))
            .transpose()?,
    ))
}

/// Our end of a pipe to the child, made non-blocking (only ours: the child's end is another
/// open file, which stays blocking as programs expect) and registered with the runtime.
pub(super) fn receiver(fd: OwnedFd) -> io::Result<pipe::Receiver> {
    rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::NONBLOCK)?;
    pipe::Receiver::from_owned_fd_unchecked(fd)
}

pub(super) fn sender(fd: OwnedFd) -> io::Result<pipe::Sender> {
    rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::NONBLOCK)?;
    pipe::Sender::from_owned_fd_unchecked(fd)
}

/// `/dev/null`, opened once: each child without stdin gets a duplicate of it, which is all
/// `Stdio::null()` would have done after opening it anew.
fn dev_null() -> io::Result<Stdio> {
    static DEV_NULL: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();
    let file = match DEV_NULL.get() {
        Some(file) => file,
        None => {
            let opened = std::fs::File::open("/dev/null")?;
            DEV_NULL.get_or_init(|| opened)
        }
    };
    Ok(Stdio::from(file.try_clone()?))
}

/// Starts `program` with the spec's stdin, environment and directory, in a new process group.
/// Every descriptor `runbook` opens is close-on-exec, so the child inherits only these three.
fn spawn(spec: &ProcessSpec, program: &str, args: &[String]) -> io::Result<std::process::Child> {
    // The Command holds environment values, so it is never logged or Debug-printed.
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(spec.env.iter().map(|(key, value)| (key, value)))
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            dev_null()?
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    if let Some(cwd) = &spec.cwd {
        // A shell would set PWD for what it runs; a program exec'd directly would otherwise
        // inherit ours, naming another directory.
        command.current_dir(cwd).env("PWD", cwd);
    }
    command.spawn()
}

/// Sends SIGTERM to the group and starts the grace period.
fn terminate(guard: &GroupGuard, grace: Duration) -> Phase {
    guard.signal(Signal::TERM);
    Phase::Terminating {
        kill_at: Instant::now() + grace,
    }
}

/// Writes `data` to the child's stdin and closes it: `pipe` is dropped on return, so the child
/// sees EOF.
pub(super) async fn write_stdin(pipe: Option<pipe::Sender>, data: Option<&[u8]>) -> io::Result<()> {
    let (Some(mut pipe), Some(data)) = (pipe, data) else {
        return Ok(());
    };
    match pipe.write_all(data).await {
        // A child that exits, or closes stdin, without reading all of it is not an error: many
        // commands ignore their input.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        result => result,
    }
}

/// Reads from a pipe that is still open into `buf` (emptied first), or waits forever once it
/// has been closed.
async fn read_some(
    pipe: &mut Option<impl AsyncRead + Unpin>,
    buf: &mut Vec<u8>,
) -> io::Result<usize> {
    match pipe {
        Some(pipe) => {
            buf.clear();
            pipe.read_buf(buf).await
        }
        None => pending().await,
    }
}

/// Sleeps until `deadline`, or forever if there is none.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => pending().await,
    }
}

/// An error that names the program and what failed, and nothing that could be a secret.
pub(super) fn failed(action: &str, spec: &ProcessSpec, error: io::Error) -> io::Error {
    let message = format!("failed to {action} `{}`: {error}", spec.program);
    io::Error::new(error.kind(), message)
}
