//! Spawning one step's child process and owning its whole process tree until the step is over.
//!
//! Every child starts in a process group of its own, so that a timeout or a Ctrl-C can signal
//! everything the step started (guarantee 6: "Timeouts kill the whole tree"). On timeout or
//! cancellation the group gets SIGTERM, the direct child gets `grace` to exit, and then the group
//! gets SIGKILL. If the future running the step is dropped, a guard SIGKILLs the group.
//!
//! Commands, arguments, stdin and environment values can hold secrets, so nothing here logs or
//! Debug-prints them, and error messages name only the program.

use std::future::pending;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use rustix::process::Signal;

mod lookup;
mod spawn;
mod spec;
#[cfg(test)]
mod tests;
mod vfork;

pub(super) use spawn::{GroupGuard, Started, failed, receiver, sender, start_group};
pub(crate) use spec::{OutputStream, ProcessOutcome, ProcessSpec, Termination};

/// How long the pipes are still drained after the direct child has exited. A grandchild that
/// inherited stdout or stderr can keep them open forever, and it must not hang the runner.
pub(crate) const DRAIN_DEADLINE: Duration = Duration::from_millis(200);

/// The size of one read from a pipe, and so the largest chunk passed to `on_output`.
const READ_CHUNK: usize = 16 * 1024;

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
