//! A child spoken to in two turns: it says something, then it is told what to do and finishes.
//! A remote edit is one: the host sends the file, `runbook` journals the backup and decides
//! the new bytes, then sends them on the same session. Two separate commands would cost the
//! host a second session and login shell, on every host's critical path.
//!
//! The child lives in a process group of its own, as every child does (`process.rs`); a
//! conversation dropped half-way SIGKILLs it, so a child waiting for its second turn learns
//! that none will come (its stdin closes) and does nothing more.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::process::{
    ProcessOutcome, ProcessSpec, Started, Termination, failed, start_group, write_stdin,
};

/// A child that has started and not yet been told its second turn.
pub(crate) struct Conversation {
    spec: ProcessSpec,
    started: Started,
    /// What the child wrote so far, kept whole for `ProcessOutcome`.
    stdout: Vec<u8>,
    stderr: Vec<u8>,
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
            if complete(&self.stdout) {
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

    /// What the child wrote to stdout so far.
    pub(crate) fn said(&self) -> &[u8] {
        &self.stdout
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
