//! An edit of a remote file in one session (`scripts::EDIT`): the host sends the file, the
//! session waits while `runbook` journals the backup and decides the new bytes, then the same
//! session replaces the file. Each remote command starts a session and the user's login shell
//! on the host, which on a fleet is most of a host's time: one for the read and one for the
//! write would be two.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::PoisonError;

use base64::Engine;

use super::Ssh;
use super::scripts;
use crate::host::conversation::{Conversation, Parked};
use crate::host::process::{ProcessOutcome, Termination};
use crate::host::{EditSession, HostError, HostFuture, Inspected, Opened};

/// The session of one edit, waiting for the new bytes.
struct RemoteEdit {
    conversation: Conversation,
    host: String,
    path: PathBuf,
    /// The `ssh -O check` arguments, to tell a failed write from a dropped host.
    check: Vec<String>,
}

impl Ssh {
    /// Reads `path` (symlinks followed) in a session that stays open for the write. When
    /// preflight read the same path on this host, its session is taken up again: it reads the
    /// file anew (under the run's lock on it, as any edit does) without a second login shell.
    pub(super) async fn open_edit_session(&self, path: &Path) -> Result<Opened, HostError> {
        let parked = {
            let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            kept.take_if(|(kept, _)| kept == path)
        };
        if let Some((_, parked)) = parked
            && let Some(reopened) = self.read_again(parked).await
        {
            return Ok(self.opened(reopened));
        }
        // Preflight's session is gone (the host dropped it, say): a new one reads the file.
        let started = self.start_edit(path).await?;
        Ok(self.opened(started))
    }

    /// What an edit of `path` would read, for preflight's checks; the session is kept for the
    /// first edit of that path on this host (one per host: sshd limits the sessions of one
    /// connection, ten by default).
    pub(super) async fn read_keeping_session(
        &self,
        path: &Path,
    ) -> Result<Option<Vec<u8>>, HostError> {
        let free = self
            .kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none();
        if !free {
            return crate::host::Host::read(self, path).await;
        }
        let (file, conversation) = self.start_edit(path).await?;
        if let Ok(parked) = conversation.park() {
            let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            if kept.is_none() {
                *kept = Some((path.to_path_buf(), parked));
            }
        }
        Ok(file.bytes)
    }

    /// Starts an edit session on `path`: what it read, and the session waiting for the write.
    pub(super) async fn start_edit(
        &self,
        path: &Path,
    ) -> Result<(Inspected, Conversation), HostError> {
        self.connect().await?;
        let spec = self.invocation(scripts::command_line(
            scripts::EDIT,
            &[&path.to_string_lossy()],
        ));
        let mut conversation = Conversation::start(spec).map_err(HostError::Spawn)?;
        let whole = conversation
            .first_turn(header_is_whole)
            .await
            .map_err(HostError::Spawn)?;
        if !whole {
            let outcome = conversation.finish(&[]).await.map_err(HostError::Spawn)?;
            if outcome.status == Termination::Exited(255) && !self.alive().await {
                return Err(self.dropped());
            }
            return Err(self.failed("read", path, &outcome));
        }
        match parse_header(conversation.said()) {
            Some(file) => Ok((file, conversation)),
            None => Err(HostError::Remote {
                host: self.target.name.clone(),
                action: "read",
                path: path.to_path_buf(),
                message: "the host's answer was not an edit script's".into(),
            }),
        }
    }

    /// A kept session, asked for the file as it is now; `None` when it no longer answers.
    async fn read_again(&self, parked: Parked) -> Option<(Inspected, Conversation)> {
        let mut conversation = parked.resume().ok()?;
        let whole = conversation.turn(b"again\n", header_is_whole).await.ok()?;
        if !whole {
            return None;
        }
        let file = parse_header(conversation.said())?;
        Some((file, conversation))
    }

    fn opened(&self, (file, conversation): (Inspected, Conversation)) -> Opened {
        let session = RemoteEdit {
            conversation,
            host: self.target.name.clone(),
            path: file.path.clone(),
            check: self.control_args("check"),
        };
        Opened {
            file,
            session: Some(Box::new(session)),
        }
    }
}

impl EditSession for RemoteEdit {
    fn commit<'a>(self: Box<Self>, bytes: &'a [u8], mode: Option<u32>) -> HostFuture<'a, ()> {
        Box::pin(async move {
            let mode = mode.map_or_else(|| "-".to_string(), |m| format!("{m:o}"));
            let mut data = format!("write {mode} {}\n", bytes.len()).into_bytes();
            data.extend_from_slice(bytes);
            let outcome = self
                .conversation
                .finish(&data)
                .await
                .map_err(HostError::Spawn)?;
            match outcome.status {
                Termination::Exited(0) => Ok(()),
                Termination::Exited(255) if !super::answers(&self.check).await => {
                    Err(HostError::Unreachable {
                        host: self.host,
                        message: "the connection dropped".into(),
                    })
                }
                _ => Err(HostError::Remote {
                    host: self.host,
                    action: "write",
                    path: self.path,
                    message: last_line(&outcome),
                }),
            }
        })
    }
}

fn last_line(outcome: &ProcessOutcome) -> String {
    let said = String::from_utf8_lossy(&outcome.stderr);
    said.lines().last().unwrap_or("failed").trim().to_string()
}

/// Whether `EDIT` has said all it says before waiting: a path, a NUL and two lines.
fn header_is_whole(out: &[u8]) -> bool {
    out.iter()
        .position(|b| *b == 0)
        .is_some_and(|nul| out[nul..].iter().filter(|b| **b == b'\n').count() >= 2)
}

/// The file `EDIT` described: its resolved path, mode and bytes, or that it does not exist.
fn parse_header(out: &[u8]) -> Option<Inspected> {
    let nul = out.iter().position(|b| *b == 0).filter(|at| *at > 0)?;
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(&out[..nul]));
    let mut lines = out[nul + 1..].split(|b| *b == b'\n');
    let (mode, encoded) = (lines.next()?, lines.next()?);
    if mode == b"-" {
        return Some(Inspected {
            path,
            bytes: None,
            mode: None,
        });
    }
    let mode = u32::from_str_radix(std::str::from_utf8(mode).ok()?, 8).ok()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    Some(Inspected {
        path,
        bytes: Some(bytes),
        mode: Some(mode),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_whole_after_the_nul_and_two_lines() {
        assert!(!header_is_whole(b"/srv/.env\n\n"));
        assert!(!header_is_whole(b"/srv/.env\x00600\n"));
        assert!(header_is_whole(b"/srv/.env\x00600\nSz1W\n"));
        assert!(header_is_whole(b"/srv/.env\x00-\n\n"));
    }

    #[test]
    fn a_header_gives_the_path_mode_and_bytes() {
        let file = parse_header(b"/srv/.env\x00640\nSz1WCg==\n").unwrap();
        assert_eq!(file.path, PathBuf::from("/srv/.env"));
        assert_eq!(file.mode, Some(0o640));
        assert_eq!(file.bytes.as_deref(), Some(&b"K=V\n"[..]));
        let empty = parse_header(b"/srv/.env\x00600\n\n").unwrap();
        assert_eq!(empty.bytes.as_deref(), Some(&b""[..]));
        let missing = parse_header(b"/srv/.env\x00-\n\n").unwrap();
        assert_eq!((missing.bytes, missing.mode), (None, None));
        assert!(parse_header(b"\x00600\n\n").is_none());
        assert!(parse_header(b"/srv/.env\0rw\n\n").is_none());
    }
}
