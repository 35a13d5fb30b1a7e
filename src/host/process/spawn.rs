//! Starting a child in a process group of its own, with our ends of its pipes registered with
//! the runtime, and the guard that SIGKILLs that group if the run is abandoned. Kept apart from
//! the run loop because conversations start children the same way and drive them differently.

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::net::unix::pipe;

use super::{ProcessSpec, lookup};
use crate::host::reaper::{Listener, Reaper};

/// SIGKILLs the process group when dropped while armed.
///
/// It is armed exactly while the direct child (the group leader) is unreaped. An unreaped child
/// keeps its pid, and so its group id, from being recycled, so the guard can never signal a
/// stranger's group.
pub(in crate::host) struct GroupGuard {
    pgid: Option<Pid>,
}

impl GroupGuard {
    pub(super) fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH only means the group is already gone, and there is nothing better to do about
            // any other error than to carry on with the escalation.
            let _ = kill_process_group(pgid, signal);
        }
    }

    pub(in crate::host) fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(Signal::KILL);
    }
}

/// A child just spawned: its reaper, the guard over its process group, and our ends of its
/// pipes, registered with the runtime.
pub(in crate::host) struct Started {
    pub(in crate::host) reaper: Reaper,
    pub(in crate::host) guard: GroupGuard,
    pub(in crate::host) stdin: Option<pipe::Sender>,
    pub(in crate::host) stdout: Option<pipe::Receiver>,
    pub(in crate::host) stderr: Option<pipe::Receiver>,
}

/// Spawns the step's program (through `sh -c` when it cannot be spawned directly and the
/// spec allows), and a guard over the new process group.
pub(in crate::host) fn start_group(spec: &ProcessSpec) -> io::Result<Started> {
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
pub(in crate::host) fn receiver(fd: OwnedFd) -> io::Result<pipe::Receiver> {
    rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::NONBLOCK)?;
    pipe::Receiver::from_owned_fd_unchecked(fd)
}

pub(in crate::host) fn sender(fd: OwnedFd) -> io::Result<pipe::Sender> {
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
///
/// A bare name is looked up on the child's `PATH` here (`lookup.rs`), so that the child's one
/// `execve` is the one that works. If that spawn fails all the same (a file `access` allows
/// and `execve` refuses, as on a noexec mount), the bare name is spawned and searched as
/// execvp does, so what runs, and any error, are as if no lookup had been made.
fn spawn(spec: &ProcessSpec, program: &str, args: &[String]) -> io::Result<std::process::Child> {
    let path = lookup::child_path(&spec.env);
    if let Some(found) = lookup::on_path(program, path.as_deref())
        && let Ok(child) = command(spec, found.as_os_str(), program, args)?.spawn()
    {
        return Ok(child);
    }
    command(spec, program.as_ref(), program, args)?.spawn()
}

/// The command that runs `file` with `arg0` as its name.
fn command(spec: &ProcessSpec, file: &OsStr, arg0: &str, args: &[String]) -> io::Result<Command> {
    // The Command holds environment values, so it is never logged or Debug-printed.
    let mut command = Command::new(file);
    std::os::unix::process::CommandExt::arg0(&mut command, arg0);
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
    Ok(command)
}

/// An error that names the program and what failed, and nothing that could be a secret.
pub(in crate::host) fn failed(action: &str, spec: &ProcessSpec, error: io::Error) -> io::Error {
    let message = format!("failed to {action} `{}`: {error}", spec.program);
    io::Error::new(error.kind(), message)
}
