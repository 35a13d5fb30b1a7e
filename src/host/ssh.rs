//! `Ssh`: a host reached with the system `ssh` client, the way Ansible reaches its hosts —
//! never a protocol or agent of our own. One multiplexed connection per host (ControlMaster,
//! its socket in a 0700 directory of the run), `BatchMode` (a run never stops at a password
//! prompt), the user's own `~/.ssh/config`, keys and `known_hosts`: host keys are checked as
//! the user's configuration says, and nothing here turns that off.
//!
//! Every call runs one of the fixed scripts of `scripts.rs`; contents, environment values
//! and a step's stdin go over the session's stdin, so no secret is ever on a local or a
//! remote command line. Spawning a step's program, with its remote process group, is in
//! `remote.rs`.

mod edit;
mod remote;
mod scripts;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{Mutex, watch};

use super::process::{ProcessOutcome, ProcessSpec, Termination, run_process};
use super::{Host, HostError, HostFuture, Inspected, Opened, OutputSink, conversation};

/// How long a host may take to accept a connection before it counts as unreachable.
const CONNECT_TIMEOUT_SECS: u32 = 10;
/// Keep-alives: a host that stops answering fails its step within about 30 s, rather than
/// hanging the run until TCP gives up.
const ALIVE_INTERVAL_SECS: u32 = 10;
/// How long the shared connection outlives its last session. A `runbook` killed with SIGKILL
/// cannot close it; this bounds how long it lingers.
const PERSIST_SECS: u32 = 60;

/// Where and how to reach a host: what an inventory's connection variables say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SshTarget {
    /// The inventory name, for messages.
    pub name: String,
    /// The address to connect to (`ansible_host`; default: the name).
    pub address: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// `ansible_ssh_private_key_file`.
    pub identity_file: Option<PathBuf>,
    /// `ansible_ssh_common_args`, split into words.
    pub extra_args: Vec<String>,
}

/// The run's 0700 directory for connection sockets, and the shared connections opened in
/// it: all are closed, and the directory removed, when the last host is dropped.
pub(crate) struct ControlDir {
    dir: tempfile::TempDir,
    /// The `ssh` arguments that close each shared connection opened.
    opened: std::sync::Mutex<Vec<Vec<String>>>,
}

impl ControlDir {
    /// A new private directory. It lives under the system temp directory, not the state
    /// directory: a socket path must fit in 108 bytes, and a state directory can be deep.
    pub(crate) fn new() -> std::io::Result<Arc<Self>> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new().prefix("runbook-ssh-").tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        Ok(Arc::new(Self {
            dir,
            opened: std::sync::Mutex::default(),
        }))
    }

    fn opened(&self, close: Vec<String>) {
        self.opened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(close);
    }
}

impl Drop for ControlDir {
    /// Closes the shared connections, so they do not linger for `ControlPersist`: all at
    /// once, since one after the other would add a process's life per host to every run's end.
    fn drop(&mut self) {
        let opened = std::mem::take(
            self.opened
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let closing: Vec<std::process::Child> = opened
            .iter()
            .filter_map(|args| {
                std::process::Command::new("ssh")
                    .args(args)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .ok()
            })
            .collect();
        for mut child in closing {
            let _ = child.wait();
        }
    }
}

pub(crate) struct Ssh {
    target: SshTarget,
    control: Arc<ControlDir>,
    /// Whether the shared connection was opened (`control` closes it).
    connected: Mutex<bool>,
    /// The edit session preflight opened to read a file, and that file's path as given: the
    /// first edit of that path takes it up (`edit.rs`).
    kept: std::sync::Mutex<Option<(PathBuf, conversation::Parked)>>,
}

impl Ssh {
    pub(crate) fn new(target: SshTarget, control: Arc<ControlDir>) -> Self {
        Self {
            target,
            control,
            connected: Mutex::new(false),
            kept: std::sync::Mutex::new(None),
        }
    }

    /// The options every invocation shares: the same destination, port and user, so that
    /// each finds the one shared connection by its socket.
    fn base_args(&self) -> Vec<String> {
        let t = &self.target;
        let mut args = vec![
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            format!("ConnectTimeout={CONNECT_TIMEOUT_SECS}"),
            "-o".into(),
            format!("ServerAliveInterval={ALIVE_INTERVAL_SECS}"),
            "-o".into(),
            "ServerAliveCountMax=3".into(),
            "-o".into(),
            format!(
                "ControlPath={}",
                self.control.dir.path().join("%C").display()
            ),
            "-T".into(),
        ];
        if let Some(port) = t.port {
            args.extend(["-p".into(), port.to_string()]);
        }
        if let Some(user) = &t.user {
            args.extend(["-l".into(), user.clone()]);
        }
        if let Some(key) = &t.identity_file {
            args.extend(["-i".into(), key.display().to_string()]);
        }
        args.extend(t.extra_args.iter().cloned());
        args
    }

    /// An `ssh` invocation over the shared connection that runs `command_line` remotely.
    fn invocation(&self, command_line: String) -> ProcessSpec {
        let mut args = self.base_args();
        args.extend([
            "-o".into(),
            "ControlMaster=no".into(),
            "--".into(),
            self.target.address.clone(),
            command_line,
        ]);
        ProcessSpec::new("ssh", args)
    }

    /// Opens the shared connection once; a host that cannot be reached is an error that
    /// says so, with what `ssh` said.
    async fn connect(&self) -> Result<(), HostError> {
        let mut connected = self.connected.lock().await;
        if *connected {
            return Ok(());
        }
        let mut args = self.base_args();
        args.extend([
            "-o".into(),
            "ControlMaster=yes".into(),
            "-o".into(),
            format!("ControlPersist={PERSIST_SECS}"),
            "-f".into(),
            "-N".into(),
            "--".into(),
            self.target.address.clone(),
        ]);
        let outcome = run_process(&ProcessSpec::new("ssh", args), &mut |_, _| {}, never())
            .await
            .map_err(HostError::Spawn)?;
        if outcome.status != Termination::Exited(0) {
            return Err(self.unreachable(&outcome.stderr));
        }
        *connected = true;
        self.control.opened(self.control_args("exit"));
        Ok(())
    }

    /// Whether the shared connection still answers.
    async fn alive(&self) -> bool {
        answers(&self.control_args("check")).await
    }

    /// An order to the shared connection's master (`ssh -O`).
    fn control_args(&self, order: &str) -> Vec<String> {
        let mut args = self.base_args();
        args.extend([
            "-O".into(),
            order.into(),
            "--".into(),
            self.target.address.clone(),
        ]);
        args
    }

    fn unreachable(&self, stderr: &[u8]) -> HostError {
        let said = String::from_utf8_lossy(stderr);
        let said = said
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("the connection failed");
        HostError::Unreachable {
            host: self.target.name.clone(),
            message: said.trim().to_string(),
        }
    }

    /// Runs one of the fixed scripts with `args`, `stdin` on its stdin: the exit code and
    /// the outputs. Exit 255 with the connection gone is the host dropping.
    async fn script(
        &self,
        script: &str,
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<ProcessOutcome, HostError> {
        self.connect().await?;
        let mut spec = self.invocation(scripts::command_line(script, args));
        spec.stdin = stdin;
        let outcome = run_process(&spec, &mut |_, _| {}, never())
            .await
            .map_err(HostError::Spawn)?;
        if outcome.status == Termination::Exited(255) && !self.alive().await {
            return Err(self.dropped());
        }
        Ok(outcome)
    }

    fn dropped(&self) -> HostError {
        HostError::Unreachable {
            host: self.target.name.clone(),
            message: "the connection dropped".into(),
        }
    }

    /// A failed file operation: what the remote command said, which names the path.
    fn failed(&self, action: &'static str, path: &Path, outcome: &ProcessOutcome) -> HostError {
        let said = String::from_utf8_lossy(&outcome.stderr);
        HostError::Remote {
            host: self.target.name.clone(),
            action,
            path: path.to_path_buf(),
            message: said.lines().last().unwrap_or("failed").trim().to_string(),
        }
    }

    async fn write_file(
        &self,
        path: &Path,
        bytes: &[u8],
        mode: Option<u32>,
    ) -> Result<(), HostError> {
        let text = path.to_string_lossy();
        let mode = mode.map(|m| format!("{m:o}")).unwrap_or_default();
        let length = bytes.len().to_string();
        let outcome = self
            .script(
                scripts::WRITE,
                &[&text, &mode, &length],
                Some(bytes.to_vec()),
            )
            .await?;
        match outcome.status {
            Termination::Exited(0) => Ok(()),
            _ => Err(self.failed("write", path, &outcome)),
        }
    }
}

/// Whether a shared connection answers `ssh -O check` (`check`: its arguments).
async fn answers(check: &[String]) -> bool {
    let spec = ProcessSpec::new("ssh", check.to_vec());
    let outcome = run_process(&spec, &mut |_, _| {}, never()).await;
    matches!(outcome, Ok(o) if o.status == Termination::Exited(0))
}

/// A cancel receiver that never fires, for the short calls that are never interrupted.
fn never() -> watch::Receiver<bool> {
    watch::channel(false).1
}

impl Host for Ssh {
    /// What an edit would read, in an edit session that then writes nothing.
    fn inspect<'a>(&'a self, path: &'a Path) -> HostFuture<'a, Inspected> {
        Box::pin(async move { Ok(self.start_edit(path).await?.0) })
    }

    fn open_edit<'a>(&'a self, path: &'a Path) -> HostFuture<'a, Opened> {
        Box::pin(self.open_edit_session(path))
    }

    fn read_before_edit<'a>(&'a self, path: &'a Path) -> HostFuture<'a, Option<Vec<u8>>> {
        Box::pin(self.read_keeping_session(path))
    }

    fn read<'a>(&'a self, path: &'a Path) -> HostFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let outcome = self
                .script(scripts::READ, &[&path.to_string_lossy()], None)
                .await?;
            match outcome.status {
                Termination::Exited(0) => Ok(Some(outcome.stdout)),
                Termination::Exited(3) => Ok(None),
                _ => Err(self.failed("read", path, &outcome)),
            }
        })
    }

    fn write_atomic<'a>(
        &'a self,
        path: &'a Path,
        bytes: &'a [u8],
        mode: Option<u32>,
    ) -> HostFuture<'a, ()> {
        Box::pin(self.write_file(path, bytes, mode))
    }

    fn keep_backup<'a>(
        &'a self,
        path: &'a Path,
        previous: &'a [u8],
        backup: &'a Path,
    ) -> HostFuture<'a, ()> {
        // The backup lives in the run's local state directory, where `resume` and `abort`
        // find it even when the host is gone; the bytes were read from the host already.
        Box::pin(async move {
            crate::atomic::write_atomic(backup, previous, Some(0o600))
                .map_err(HostError::file("back up", path))
        })
    }

    fn restore<'a>(
        &'a self,
        path: &'a Path,
        previous: Option<&'a [u8]>,
        mode: Option<u32>,
    ) -> HostFuture<'a, ()> {
        Box::pin(async move {
            match previous {
                Some(bytes) => self.write_file(path, bytes, mode).await,
                None => {
                    let outcome = self
                        .script(scripts::REMOVE, &[&path.to_string_lossy()], None)
                        .await?;
                    match outcome.status {
                        Termination::Exited(0) => Ok(()),
                        _ => Err(self.failed("remove", path, &outcome)),
                    }
                }
            }
        })
    }

    fn remove_leftovers<'a>(&'a self, path: &'a Path) -> HostFuture<'a, usize> {
        Box::pin(async move {
            let outcome = self
                .script(scripts::SWEEP, &[&path.to_string_lossy()], None)
                .await?;
            let text = String::from_utf8_lossy(&outcome.stdout);
            match (outcome.status, text.trim().parse()) {
                (Termination::Exited(0), Ok(count)) => Ok(count),
                _ => Err(self.failed("clean up beside", path, &outcome)),
            }
        })
    }

    fn spawn<'a>(
        &'a self,
        process: &'a ProcessSpec,
        on_output: &'a mut OutputSink<'_>,
        cancel: watch::Receiver<bool>,
    ) -> HostFuture<'a, ProcessOutcome> {
        Box::pin(remote::run(self, process, on_output, cancel))
    }
}
