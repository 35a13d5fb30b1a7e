//! A child spoken to in turns: it says something, is told something and answers, and is
//! finally told what to do and finishes. A remote edit is one: the host sends the file,
//! `runbook` journals the backup and decides the new bytes, then sends them on the same
//! session. Separate commands would cost the host a session and login shell each, on every
//! host's critical path.
//!
//! A conversation can wait between turns outside any runtime ([`Parked`]): preflight reads a
//! host's file on its own runtime, and the run's edit goes on with the same child on the
//! run's runtime.
//!
//! The child lives in a process group of its own, as every child does (`process.rs`); a
//! conversation dropped half-way SIGKILLs it, so a child waiting for its next turn learns
//! that none will come (its stdin closes) and does nothing more.

use std::io;
use std::os::fd::OwnedFd;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::process::{
    GroupGuard, ProcessOutcome, ProcessSpec, Started, Termination, failed, receiver, sender,
    start_group, write_stdin,
};
use super::reaper::{Reaper, orphan};

/// A child that has started and not yet been told its second turn.
pub(crate) struct Conversation {
    spec: ProcessSpec,
    started: Started,
    /// What the child wrote so far, kept whole for `ProcessOutcome`.
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Where in `stdout` the current turn's answer begins.
    turn: usize,
}

impl Conversation {
    /// Starts `spec`'s program with its stdin open for the second turn. `spec.stdin` is not
    /// written: what the child gets is the argument of [`Conversation::finish`].
    pub(crate) fn start(mut spec: ProcessSpec) -> io::Result<Self> {
        spec.stdin = Some(Vec::new());
        let started = start_group(&spec)?;
        spec.stdin = None;
        Ok(Self {
            spec,
            started,
            stdout: Vec::new(),
            stderr: Vec::new(),
            turn: 0,
        })
    }

    /// Writes `say` to the child's stdin, which stays open, and reads its answer until
    /// `complete` says it is whole (see [`Conversation::first_turn`]).
    pub(crate) async fn turn(
        &mut self,
        say: &[u8],
        complete: impl Fn(&[u8]) -> bool,
    ) -> io::Result<bool> {
        self.turn = self.stdout.len();
        let Some(stdin) = self.started.stdin.as_mut() else {
            return Ok(false);
        };
        match stdin.write_all(say).await {
            // A child that has gone says nothing more: the answer is not whole.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(false),
            written => written.map_err(|e| failed("write stdin of", &self.spec, e))?,
        }
        self.first_turn(complete).await
    }

    /// Leaves the runtime the child was started on, waiting for its next turn.
    pub(crate) fn park(self) -> io::Result<Parked> {
        let Started {
            reaper,
            guard,
            stdin,
            stdout,
            stderr,
        } = self.started;
        // Our ends leave the runtime first: should one fail, the reaper still answers for
        // the child (its drop leaves it to be reaped).
        let stdin = stdin.map(|p| p.into_nonblocking_fd()).transpose()?;
        let stdout = stdout.map(|p| p.into_nonblocking_fd()).transpose()?;
        let stderr = stderr.map(|p| p.into_nonblocking_fd()).transpose()?;
        Ok(Parked {
            spec: self.spec,
            pid: Some(reaper.into_pid()),
            guard: Some(guard),
            stdin,
            stdout,
            stderr,
            said: (self.stdout, self.stderr),
        })
    }

    /// Reads the child's output until `complete` says its stdout holds the whole first turn:
    /// `true` then, `false` when stdout ended first (the child failed or exited early; then
    /// [`Conversation::finish`] with nothing to say gives its status and what it said).
    pub(crate) async fn first_turn(
        &mut self,
        complete: impl Fn(&[u8]) -> bool,
    ) -> io::Result<bool> {
        let (mut out, mut err) = (Vec::with_capacity(16 * 1024), Vec::new());
        loop {
            if complete(&self.stdout[self.turn..]) {
                return Ok(true);
            }
            let Some(stdout) = self.started.stdout.as_mut() else {
                return Ok(false);
            };
            // Stderr is read too, so that a child saying much there cannot block on a full
            // pipe while we wait for its stdout.
            tokio::select! {
                read = read_into(stdout, &mut out) => {
                    let n = read.map_err(|e| failed("read stdout of", &self.spec, e))?;
                    if n == 0 {
                        self.started.stdout = None;
                    }
                    self.stdout.extend_from_slice(&out[..n]);
                }
                read = read_stderr(&mut self.started.stderr, &mut err) => {
                    let n = read.map_err(|e| failed("read stderr of", &self.spec, e))?;
                    if n == 0 {
                        self.started.stderr = None;
                    }
                    self.stderr.extend_from_slice(&err[..n]);
                }
            }
        }
    }

    /// What the child wrote to stdout in answer to the current turn.
    pub(crate) fn said(&self) -> &[u8] {
        &self.stdout[self.turn..]
    }

    /// Writes `data` to the child's stdin and closes it, then reads its outputs to their end
    /// and reaps it. The outcome's stdout holds the first turn too.
    pub(crate) async fn finish(mut self, data: &[u8]) -> io::Result<ProcessOutcome> {
        let stdin = self.started.stdin.take();
        let mut stdout = self.started.stdout.take();
        let mut stderr = self.started.stderr.take();
        let (written, out, err) = tokio::join!(
            write_stdin(stdin, Some(data)),
            read_rest(&mut stdout),
            read_rest(&mut stderr),
        );
        written.map_err(|e| failed("write stdin of", &self.spec, e))?;
        self.stdout
            .extend(out.map_err(|e| failed("read stdout of", &self.spec, e))?);
        self.stderr
            .extend(err.map_err(|e| failed("read stderr of", &self.spec, e))?);
        let status = self
            .started
            .reaper
            .wait()
            .await
            .map_err(|e| failed("wait for", &self.spec, e))?;
        // Reaped: its group id may be recycled from now on, so the guard must not signal it.
        self.started.guard.disarm();
        Ok(ProcessOutcome {
            status: Termination::from_status(status),
            stdout: std::mem::take(&mut self.stdout),
            stderr: std::mem::take(&mut self.stderr),
        })
    }
}

/// A conversation between turns, on no runtime: its child and our ends of its pipes.
/// Dropped, it SIGKILLs the child's group and leaves the child to be reaped.
pub(crate) struct Parked {
    spec: ProcessSpec,
    pid: Option<rustix::process::Pid>,
    guard: Option<GroupGuard>,
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    said: (Vec<u8>, Vec<u8>),
}

impl Parked {
    /// The conversation again, on the runtime this is called on.
    pub(crate) fn resume(mut self) -> io::Result<Conversation> {
        let pid = self
            .pid
            .take()
            .expect("a parked child has a pid until resumed");
        let guard = self
            .guard
            .take()
            .expect("a parked child has a guard until resumed");
        let reaper = match Reaper::adopt(pid) {
            Ok(reaper) => reaper,
            Err(e) => {
                // Nobody waits for it now: the guard's drop kills it, the orphans reap it.
                orphan(pid);
                return Err(e);
            }
        };
        let started = Started {
            reaper,
            guard,
            stdin: self.stdin.take().map(sender).transpose()?,
            stdout: self.stdout.take().map(receiver).transpose()?,
            stderr: self.stderr.take().map(receiver).transpose()?,
        };
        let (stdout, stderr) = std::mem::take(&mut self.said);
        Ok(Conversation {
            spec: self.spec.clone(),
            started,
            turn: stdout.len(),
            stdout,
            stderr,
        })
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        // The guard (if still here) SIGKILLs the group as it drops; the child is reaped later.
        if let Some(pid) = self.pid.take() {
            orphan(pid);
        }
    }
}

async fn read_into(pipe: &mut (impl AsyncRead + Unpin), chunk: &mut Vec<u8>) -> io::Result<usize> {
    chunk.clear();
    pipe.read_buf(chunk).await
}

/// Reads stderr while it is open; once it has ended, never returns, so the other branch
/// decides.
async fn read_stderr(
    pipe: &mut Option<impl AsyncRead + Unpin>,
    chunk: &mut Vec<u8>,
) -> io::Result<usize> {
    match pipe {
        Some(pipe) => read_into(pipe, chunk).await,
        None => std::future::pending().await,
    }
}

async fn read_rest(pipe: &mut Option<impl AsyncRead + Unpin>) -> io::Result<Vec<u8>> {
    let mut rest = Vec::new();
    if let Some(pipe) = pipe {
        pipe.read_to_end(&mut rest).await?;
    }
    Ok(rest)
}
