//! Starting a child in a process group of its own, with our ends of its pipes registered with
//! the runtime, and the guard that SIGKILLs that group if the run is abandoned. Kept apart from
//! the run loop because conversations start children the same way and drive them differently.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::{Pid, Signal, WaitOptions, kill_process_group, waitpid};
use tokio::net::unix::pipe;

use super::{ProcessSpec, lookup, vfork};
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
    let child = match spawn(spec, &spec.program, &spec.args) {
        Err(_) if spec.shell_fallback.is_some() => {
            let script = spec.shell_fallback.clone().unwrap_or_default();
            spawn(spec, "sh", &["-c".to_owned(), script])
        }
        spawned => spawned,
    }
    .map_err(|error| failed("spawn", spec, error))?;
    // The child leads a new group whose id is its pid. Spawning returns only after the child
    // has exec'd, so the group exists by now.
    let pid = child.pid;
    let guard = GroupGuard { pgid: Some(pid) };
    match watch_child(child) {
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
            let _ = waitpid(Some(pid), WaitOptions::empty());
            Err(failed("watch", spec, error))
        }
    }
}

/// A child that has exec'd, and our ends of its pipes.
struct Child {
    pid: Pid,
    stdin: Option<OwnedFd>,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

type Watched = (
    Option<pipe::Sender>,
    Option<pipe::Receiver>,
    Option<pipe::Receiver>,
);

/// Registers our ends of the child's pipes with the runtime.
fn watch_child(child: Child) -> io::Result<Watched> {
    Ok((
        child.stdin.map(sender).transpose()?,
        Some(receiver(child.stdout)?),
        Some(receiver(child.stderr)?),
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

/// `/dev/null`, opened once: the stdin of every child that is given none.
fn dev_null() -> io::Result<&'static std::fs::File> {
    static DEV_NULL: OnceLock<std::fs::File> = OnceLock::new();
    match DEV_NULL.get() {
        Some(file) => Ok(file),
        None => {
            let opened = std::fs::File::open("/dev/null")?;
            Ok(DEV_NULL.get_or_init(|| opened))
        }
    }
}

/// Starts `program` with the spec's stdin, environment and directory, in a new process group.
/// Every descriptor `runbook` opens is close-on-exec, so the child inherits only these three.
///
/// A bare name is looked up on the child's `PATH` here (`lookup.rs`), so that the child's one
/// `execve` is the one that works, and a file found (or named by an absolute path) is started
/// by `vfork.rs`. If that spawn fails all the same (a file `access` allows and `execve`
/// refuses, as on a noexec mount), the name is spawned by the standard library and searched
/// as execvp does, so what runs, and any error, are as if no lookup had been made.
fn spawn(spec: &ProcessSpec, program: &str, args: &[String]) -> io::Result<Child> {
    let path = lookup::child_path(&spec.env);
    let found = match lookup::on_path(program, path.as_deref()) {
        Some(found) => Some(found),
        None if program.starts_with('/') => Some(PathBuf::from(program)),
        None => None,
    };
    if let Some(found) = found
        && let Ok(child) = spawn_found(spec, &found, program, args)
    {
        return Ok(child);
    }
    spawn_std(spec, program, args)
}

/// Starts the file `found`, with `arg0` as its name.
fn spawn_found(spec: &ProcessSpec, found: &Path, arg0: &str, args: &[String]) -> io::Result<Child> {
    let (stdin_ours, stdin_child) = match spec.stdin {
        Some(_) => {
            let (read, write) = pipe_with(PipeFlags::CLOEXEC)?;
            (Some(write), Some(read))
        }
        None => (None, None),
    };
    let (stdout, stdout_child) = pipe_with(PipeFlags::CLOEXEC)?;
    let (stderr, stderr_child) = pipe_with(PipeFlags::CLOEXEC)?;
    let stdin_fd = match &stdin_child {
        Some(read) => read.as_fd(),
        None => dev_null()?.as_fd(),
    };
    let argv: Vec<&OsStr> = std::iter::once(OsStr::new(arg0))
        .chain(args.iter().map(OsStr::new))
        .collect();
    let (mut envp, own) = environment(spec)?;
    envp.extend(own.iter().map(CString::as_c_str));
    let pid = vfork::spawn(
        found,
        &argv,
        &envp,
        spec.cwd.as_deref(),
        [stdin_fd, stdout_child.as_fd(), stderr_child.as_fd()],
    )?;
    Ok(Child {
        pid,
        stdin: stdin_ours,
        stdout,
        stderr,
    })
}

/// The child's environment: ours, with the spec's variables (and `PWD` when the spec sets a
/// directory) in place of any of the same name; the last of a name wins. Returns the
/// inherited entries kept, and the spec's.
fn environment(spec: &ProcessSpec) -> io::Result<(Vec<&'static CStr>, Vec<CString>)> {
    let mut set: Vec<(&OsStr, &OsStr)> = spec
        .env
        .iter()
        .map(|(key, value)| (OsStr::new(key), OsStr::new(value)))
        .collect();
    if let Some(cwd) = &spec.cwd {
        // A shell would set PWD for what it runs; a program exec'd directly would otherwise
        // inherit ours, naming another directory.
        set.push((OsStr::new("PWD"), cwd.as_os_str()));
    }
    let mut own = Vec::with_capacity(set.len());
    for (i, (key, value)) in set.iter().enumerate() {
        if !set[i + 1..].iter().any(|(k, _)| k == key) {
            own.push(vfork::env_entry(key, value)?);
        }
    }
    let inherited = inherited_environment()
        .iter()
        .filter(|(key, _)| !set.iter().any(|(k, _)| k == key))
        .map(|(_, entry)| entry.as_c_str())
        .collect();
    Ok((inherited, own))
}

/// This process's environment as `KEY=value` strings, made once: nothing in `runbook` changes
/// its own environment after start (`set_var` needs `unsafe`, which the crate denies outside
/// the spawn). Entries that cannot be passed (a NUL byte cannot be in one) are left out, as
/// the kernel could not have given them to us.
fn inherited_environment() -> &'static [(OsString, CString)] {
    static INHERITED: OnceLock<Vec<(OsString, CString)>> = OnceLock::new();
    INHERITED.get_or_init(|| {
        std::env::vars_os()
            .filter_map(|(key, value)| Some((key.clone(), vfork::env_entry(&key, &value).ok()?)))
            .collect()
    })
}

/// Starts `program` through the standard library, which searches `PATH` as execvp does.
fn spawn_std(spec: &ProcessSpec, program: &str, args: &[String]) -> io::Result<Child> {
    // The Command holds environment values, so it is never logged or Debug-printed.
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(spec.env.iter().map(|(key, value)| (key, value)))
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::from(dev_null()?.try_clone()?)
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd).env("PWD", cwd);
    }
    let mut child = command.spawn()?;
    let pid = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
    match (pid, child.stdout.take(), child.stderr.take()) {
        (Some(pid), Some(stdout), Some(stderr)) => Ok(Child {
            pid,
            stdin: child.stdin.take().map(OwnedFd::from),
            stdout: stdout.into(),
            stderr: stderr.into(),
        }),
        _ => {
            // Not expected of std; the child is not left running unwatched all the same.
            let _ = child.kill();
            let _ = child.wait();
            Err(io::Error::other("no process id or pipes for the child"))
        }
    }
}

/// An error that names the program and what failed, and nothing that could be a secret.
pub(in crate::host) fn failed(action: &str, spec: &ProcessSpec, error: io::Error) -> io::Error {
    let message = format!("failed to {action} `{}`: {error}", spec.program);
    io::Error::new(error.kind(), message)
}
