//! A step's program on a remote host, and its whole process tree there.
//!
//! Killing the local `ssh` would leave the remote program running (no terminal, so no
//! hangup reaches it). So the spawn script reports the remote process group first, and a
//! timeout or an interrupt signals that group over the shared connection, as the local
//! seam does for a local group: SIGTERM, the grace period, SIGKILL. Only if the session still
//! does not end is the local `ssh` killed.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::Ssh;
use super::scripts::{self, PGID_PREFIX};
use crate::host::process::{OutputStream, ProcessOutcome, ProcessSpec, Termination, run_process};
use crate::host::{HostError, OutputSink};

/// After the remote group got SIGKILL, how long its session may take to end before the local
/// `ssh` is killed too.
const SESSION_END_GRACE: Duration = Duration::from_secs(5);

/// How often a run whose time is up looks again for the remote group it must signal.
const GROUP_POLL: Duration = Duration::from_millis(50);

/// Where a remote run is between starting and ending.
enum Phase {
    Running,
    /// The time is up before the spawn script reported the remote group (a session slow to
    /// start on a loaded host): killing the local `ssh` now would leave the program to start
    /// and run on there, so the group is awaited until `give_up_at`, then signalled.
    AwaitingGroup {
        give_up_at: Instant,
    },
    /// The remote group got SIGTERM; it gets SIGKILL at `kill_at`.
    Terminating {
        kill_at: Instant,
    },
    /// The remote group got SIGKILL; the local `ssh` is killed at `give_up_at`.
    Killed {
        give_up_at: Instant,
    },
    /// The local `ssh` was killed; waiting for it to be reaped.
    Abandoned,
}

/// Separates the spawn script's first stderr line (the remote process group) from the
/// program's own output, which passes through untouched.
struct PgidReader<'a, 'b> {
    head: Vec<u8>,
    done: bool,
    pgid: &'a Mutex<Option<i32>>,
    on_output: &'a mut OutputSink<'b>,
}

impl PgidReader<'_, '_> {
    fn push(&mut self, stream: OutputStream, chunk: &[u8]) {
        if stream == OutputStream::Stdout || self.done {
            (self.on_output)(stream, chunk);
            return;
        }
        self.head.extend_from_slice(chunk);
        let Some(end) = self.head.iter().position(|b| *b == b'\n') else {
            return;
        };
        self.done = true;
        let line = String::from_utf8_lossy(&self.head[..end]).into_owned();
        let rest = self.head.split_off(end + 1);
        match line
            .strip_prefix(PGID_PREFIX)
            .and_then(|g| g.trim().parse().ok())
        {
            Some(pgid) => {
                *self
                    .pgid
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(pgid)
            }
            // Not the script's line (the login shell said something first): it is output.
            None => (self.on_output)(stream, &self.head[..=end]),
        }
        if !rest.is_empty() {
            (self.on_output)(stream, &rest);
        }
    }
}

/// The local `ssh` invocation that spawns `process` on the host: its directory, program and
/// arguments on the command line, its environment and stdin over stdin (never in an argv).
fn invocation(host: &Ssh, process: &ProcessSpec) -> ProcessSpec {
    let cwd = process
        .cwd
        .as_ref()
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut words: Vec<&str> = vec![&cwd, &process.program];
    words.extend(process.args.iter().map(String::as_str));
    let mut spec = host.invocation(scripts::command_line(scripts::SPAWN, &words));
    let mut stdin = scripts::environment_header(&process.env);
    stdin.extend_from_slice(process.stdin.as_deref().unwrap_or_default());
    spec.stdin = Some(stdin);
    spec
}

/// Runs `process` on the host: its program, arguments and directory on the command line,
/// its environment and stdin over stdin.
pub(super) async fn run(
    host: &Ssh,
    process: &ProcessSpec,
    on_output: &mut OutputSink<'_>,
    mut cancel: watch::Receiver<bool>,
) -> Result<ProcessOutcome, HostError> {
    if *cancel.borrow_and_update() {
        return Ok(ProcessOutcome {
            status: Termination::Cancelled,
            stdout: Vec::new(),
            stderr: Vec::new(),
        });
    }
    host.connect().await?;
    let spec = invocation(host, process);

    let pgid = Mutex::new(None);
    let mut reader = PgidReader {
        head: Vec::new(),
        done: false,
        pgid: &pgid,
        on_output,
    };
    let mut forward = |stream: OutputStream, chunk: &[u8]| reader.push(stream, chunk);
    let (abandon, abandoned) = watch::channel(false);
    let session = run_process(&spec, &mut forward, abandoned);
    tokio::pin!(session);

    let timeout_at = process.timeout.map(|t| Instant::now() + t);
    let mut phase = Phase::Running;
    let mut terminated_because = None;
    let mut watch_cancel = true;
    // The loop is the state machine of the remote process's life (running, terminating,
    // killed, abandoned), and stays whole: every arm reads and moves the same phase.
    let outcome = loop {
        let deadline = match phase {
            Phase::Running => timeout_at,
            Phase::AwaitingGroup { give_up_at } => {
                Some(give_up_at.min(Instant::now() + GROUP_POLL))
            }
            Phase::Terminating { kill_at } => Some(kill_at),
            Phase::Killed { give_up_at } => Some(give_up_at),
            Phase::Abandoned => None,
        };
        tokio::select! {
            outcome = &mut session => break outcome.map_err(HostError::Spawn)?,
            changed = cancel.changed(), if watch_cancel && matches!(phase, Phase::Running) => {
                match changed {
                    Ok(()) if *cancel.borrow_and_update() => {
                        terminated_because = Some(Termination::Cancelled);
                        let wait = Some(Instant::now() + SESSION_END_GRACE);
                        phase = terminate(host, &pgid, process.grace, &abandon, wait).await;
                    }
                    Ok(()) => {}
                    Err(_) => watch_cancel = false,
                }
            }
            () = sleep_until_some(deadline) => match phase {
                Phase::Running => {
                    terminated_because = Some(Termination::TimedOut);
                    let wait = Some(Instant::now() + SESSION_END_GRACE);
                    phase = terminate(host, &pgid, process.grace, &abandon, wait).await;
                }
                Phase::AwaitingGroup { give_up_at } => {
                    if Instant::now() >= give_up_at {
                        phase = terminate(host, &pgid, process.grace, &abandon, None).await;
                    } else if signal(host, &pgid, "TERM").await {
                        phase = Phase::Terminating { kill_at: Instant::now() + process.grace };
                    }
                }
                Phase::Terminating { .. } => {
                    signal(host, &pgid, "KILL").await;
                    phase = Phase::Killed { give_up_at: Instant::now() + SESSION_END_GRACE };
                }
                Phase::Killed { .. } => {
                    let _ = abandon.send(true);
                    phase = Phase::Abandoned;
                }
                Phase::Abandoned => {}
            },
        }
    };
    let started = pgid
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .is_some();
    if let Some(why) = terminated_because {
        return Ok(ProcessOutcome {
            status: why,
            ..outcome
        });
    }
    // ssh says 255 for its own failures; a program may too, so the connection decides.
    if outcome.status == Termination::Exited(255) && (!started || !host.alive().await) {
        return Err(if started {
            host.dropped()
        } else {
            host.unreachable(&outcome.stderr)
        });
    }
    Ok(outcome)
}

/// Starts terminating the remote group; if it has not reported one yet, waits for it until
/// `wait_until`, and without one then, kills the local `ssh`.
async fn terminate(
    host: &Ssh,
    pgid: &Mutex<Option<i32>>,
    grace: Duration,
    abandon: &watch::Sender<bool>,
    wait_until: Option<Instant>,
) -> Phase {
    if signal(host, pgid, "TERM").await {
        Phase::Terminating {
            kill_at: Instant::now() + grace,
        }
    } else if let Some(give_up_at) = wait_until {
        Phase::AwaitingGroup { give_up_at }
    } else {
        let _ = abandon.send(true);
        Phase::Abandoned
    }
}

/// Signals the remote group over the shared connection; whether a group was known.
async fn signal(host: &Ssh, pgid: &Mutex<Option<i32>>, name: &str) -> bool {
    let Some(group) = *pgid
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    else {
        return false;
    };
    // ESRCH (the group is gone already) and a lost connection leave nothing better to do
    // than to go on with the escalation.
    let _ = host
        .script(scripts::SIGNAL_GROUP, &[&group.to_string(), name], None)
        .await;
    true
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
