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

/// Waits for child `pid` to exit and reaps it.
pub(super) struct Reaper {
    pid: Pid,
    sigchld: Signal,
    reaped: bool,
}

impl Reaper {
    /// Starts listening for SIGCHLD. Call it before the child can exit unseen: right after the
    /// spawn is fine, since `wait` asks once before it waits for a signal.
    pub(super) fn new(pid: Pid) -> io::Result<Self> {
        Ok(Self {
            pid,
            sigchld: signal(SignalKind::child())?,
            reaped: false,
        })
    }

    /// The child's exit status, once it has exited. Cancel safe: dropped half-way, the next
    /// call (or the next waiter, should this one be dropped) asks again.
    pub(super) async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_reap()? {
                return Ok(status);
            }
            if self.sigchld.recv().await.is_none() {
                return Err(io::Error::other("the SIGCHLD listener stopped"));
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

/// Reaps the orphans that have exited; keeps the others for later.
fn reap_orphans() {
    let Ok(mut orphans) = ORPHANS.lock() else {
        return;
    };
    orphans.retain(|pid| matches!(waitpid(Some(*pid), WaitOptions::NOHANG), Ok(None)));
}
