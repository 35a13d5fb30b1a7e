//! Reaping children: one SIGCHLD listener wakes every child's waiter, and each asks the kernel
//! about its own pid only (`waitpid(pid, WNOHANG)`). No pidfd and no epoll registration per
//! child, and never a wait for "any child", so nothing spawned elsewhere in the process (a
//! test harness, a library) has its exit stolen.
//!
//! A waiter dropped before its child was reaped (the step's future was cancelled; its process
//! group has been SIGKILLed) leaves the pid to the next waiter, so no zombie outlives the next
//! child's exit.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Mutex;

use rustix::process::{Pid, WaitOptions, waitpid};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Children whose waiter was dropped before they were reaped.
static ORPHANS: Mutex<Vec<Pid>> = Mutex::new(Vec::new());

/// Listens for SIGCHLD from before a child is spawned; then waits for that child to exit and
/// reaps it.
pub(super) struct Listener(Signal);

impl Listener {
    /// Starts listening. Call it before spawning: every SIGCHLD from then on wakes the waiter,
    /// so it need not ask the kernel before the first one.
    pub(super) fn new() -> io::Result<Self> {
        Ok(Self(signal(SignalKind::child())?))
    }

    /// The waiter for child `pid`, spawned after this listener began.
    pub(super) fn reaper(self, pid: Pid) -> Reaper {
        Reaper {
            pid,
            sigchld: self.0,
            reaped: false,
            ask_first: false,
        }
    }
}

/// Waits for child `pid` to exit and reaps it.
pub(super) struct Reaper {
    pid: Pid,
    sigchld: Signal,
    reaped: bool,
    /// Whether the child may have exited before this waiter's listener began, so the first
    /// wait asks the kernel before waiting for a SIGCHLD.
    ask_first: bool,
}

impl Reaper {
    /// A waiter for a child of this process that another waiter (on another runtime, say)
    /// gave up with [`Reaper::into_pid`]: it may have exited already.
    pub(super) fn adopt(pid: Pid) -> io::Result<Self> {
        let mut reaper = Listener::new()?.reaper(pid);
        reaper.ask_first = true;
        Ok(reaper)
    }

    /// The child's pid, for [`Reaper::adopt`] or [`orphan`]: this waiter no longer answers
    /// for it.
    pub(super) fn into_pid(mut self) -> Pid {
        // Whoever takes the pid reaps it, so dropping this waiter must not make it an orphan.
        self.reaped = true;
        self.pid
    }

    /// The child's exit status, once it has exited. Cancel safe: dropped half-way, the next
    /// call (or the next waiter, should this one be dropped) asks again. Every SIGCHLD since
    /// the listener began wakes it once, so a child that exited before the first call is seen.
    pub(super) async fn wait(&mut self) -> io::Result<ExitStatus> {
        if std::mem::take(&mut self.ask_first)
            && let Some(status) = self.try_reap()?
        {
            return Ok(status);
        }
        loop {
            if self.sigchld.recv().await.is_none() {
                return Err(io::Error::other("the SIGCHLD listener stopped"));
            }
            if let Some(status) = self.try_reap()? {
                return Ok(status);
            }
        }
    }

    fn try_reap(&mut self) -> io::Result<Option<ExitStatus>> {
        reap_orphans();
        match waitpid(Some(self.pid), WaitOptions::NOHANG) {
            Ok(Some((_, status))) => {
                self.reaped = true;
                Ok(Some(ExitStatus::from_raw(status.as_raw())))
            }
            Ok(None) => Ok(None),
            Err(errno) => Err(errno.into()),
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if !self.reaped
            && let Ok(mut orphans) = ORPHANS.lock()
        {
            orphans.push(self.pid);
        }
    }
}

/// Leaves child `pid`, which nobody waits for, to be reaped after the next child's exit.
pub(super) fn orphan(pid: Pid) {
    if let Ok(mut orphans) = ORPHANS.lock() {
        orphans.push(pid);
    }
}

/// Reaps the orphans that have exited; keeps the others for later.
fn reap_orphans() {
    let Ok(mut orphans) = ORPHANS.lock() else {
        return;
    };
    orphans.retain(|pid| matches!(waitpid(Some(*pid), WaitOptions::NOHANG), Ok(None)));
}
