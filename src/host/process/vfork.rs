//! Starting a program found on disk the way glibc's `posix_spawn` does, without the part of
//! its work a step does not need.
//!
//! Like `posix_spawn`, the child is made with `clone(CLONE_VM | CLONE_VFORK)`: it runs in our
//! memory, on a stack of its own, and the spawning thread is suspended until the child has
//! exec'd or exited, so no memory is copied and nothing else runs on the parent's side. Unlike
//! glibc 2.36's `posix_spawn`, it does not map and unmap a stack for each child (the unmap
//! interrupts every core this process ran on, to flush its TLB), does not ask for the file
//! limit twice per redirected descriptor, and does not read each of the 64 signal dispositions
//! before resetting it. On this project's benchmark of 1,000 independent steps, the stack's
//! `mmap` and `munmap` alone were 8% of the scheduling thread's samples; a step's CPU time
//! fell by about 60 µs with this spawn.
//!
//! The child does only what a vfork child may: system calls on memory prepared before the
//! clone. It allocates nothing, takes no lock and never returns into Rust code that the parent
//! is running. Every signal is blocked from before the clone until just before `execve`, and
//! by then every signal this process handles is back at its default (a handler would run on
//! memory the parent owns), except glibc's two internal ones, which `sigaction` will not touch
//! and which glibc only ever sends to this process's own threads. Only those signals are
//! reset, not all 64: `execve` itself resets every handled signal and keeps every ignored one,
//! so the rest already are what the program must start with. Resetting all 64 (two
//! `sigaction` calls each in `posix_spawn`, one here before) kept the parent suspended for
//! about 25 µs a spawn (timed in C); without it, on this project's benchmarks of 1,000
//! steps, a run's CPU time fell by 21 ms (independent steps) and 47 ms (chains).

#![allow(unsafe_code)]

use std::cell::Cell;
use std::ffi::{CStr, CString, OsStr, c_char, c_int, c_void};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

use rustix::process::Pid;

/// The child's stack. What it runs is a loop of system calls (the deepest is `execve`'s
/// wrapper), far below this; kept per thread and reused, so a spawn maps nothing.
const STACK_WORDS: usize = 4096; // 64 KiB

thread_local! {
    static STACK: Cell<Option<Box<[MaybeUninit<u128>]>>> = const { Cell::new(None) };
}

/// The highest signal number on Linux; `sigaction` refuses SIGKILL, SIGSTOP and the two glibc
/// keeps for itself, which is fine: they are left as they are.
const LAST_SIGNAL: c_int = 64;

/// Everything the child reads, prepared by the parent before the clone.
struct ChildArgs {
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    /// Null for no change.
    cwd: *const c_char,
    /// The descriptors that become the child's 0, 1 and 2; each is 3 or above.
    stdio: [c_int; 3],
    /// An empty signal mask, the child's from just before `execve`: a step starts with no
    /// signal blocked, whatever the spawning thread blocks (as `std::process::Command` does).
    unblocked: libc::sigset_t,
    /// The signals the child sets before its mask is emptied: each handled one, and SIGPIPE.
    /// Signal `n` is bit `n - 1`.
    reset: u64,
    /// Of those, the ones set to ignored (as the invoker left them, which `posix_spawn` keeps)
    /// rather than to their default.
    ignored: u64,
    /// The `errno` of the step that failed, written by the child before it exits.
    error: AtomicI32,
}

/// Spawns `path` with `argv` (its first element is the program's name) and `envp` as the
/// whole environment, in a new process group, with `stdio` as descriptors 0, 1 and 2 and `cwd`
/// as its directory. Returns once the child has exec'd; an error (from `chdir` or `execve`, say)
/// means no child is left.
pub(super) fn spawn(
    path: &Path,
    argv: &[&OsStr],
    envp: &[&CStr],
    cwd: Option<&Path>,
    stdio: [BorrowedFd<'_>; 3],
) -> io::Result<Pid> {
    let path = c_string(path.as_os_str())?;
    let argv: Vec<CString> = argv
        .iter()
        .map(|a| c_string(a))
        .collect::<io::Result<_>>()?;
    let argv_ptrs = null_terminated(argv.iter().map(CString::as_c_str));
    let envp_ptrs = null_terminated(envp.iter().copied());
    let cwd = cwd.map(|c| c_string(c.as_os_str())).transpose()?;
    // A descriptor below 3 would be one of the targets itself (dup2 onto itself keeps
    // close-on-exec set), so such a source is moved up first.
    let mut moved: Vec<OwnedFd> = Vec::new();
    let mut fds = [0; 3];
    for (slot, fd) in fds.iter_mut().zip(stdio) {
        *slot = if fd.as_raw_fd() < 3 {
            let high = rustix::io::fcntl_dupfd_cloexec(fd, 3)?;
            let raw = high.as_raw_fd();
            moved.push(high);
            raw
        } else {
            fd.as_raw_fd()
        };
    }
    let dispositions = DISPOSITIONS.get_or_init(Dispositions::read);
    let mut args = ChildArgs {
        path: path.as_ptr(),
        argv: argv_ptrs.as_ptr(),
        envp: envp_ptrs.as_ptr(),
        cwd: cwd.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
        stdio: fds,
        unblocked: empty_set(),
        reset: dispositions.reset,
        ignored: dispositions.ignored,
        error: AtomicI32::new(0),
    };
    let mut stack = STACK
        .take()
        .unwrap_or_else(|| vec![MaybeUninit::uninit(); STACK_WORDS].into_boxed_slice());
    // SAFETY: the pointer is one past the end of the buffer, which is where a downward stack
    // starts; the buffer is 16-byte aligned (u128) as the ABI wants for a stack.
    let top = unsafe { stack.as_mut_ptr().add(stack.len()) }.cast::<c_void>();
    let pid = {
        let mut all = MaybeUninit::<libc::sigset_t>::uninit();
        let mut before = empty_set();
        // SAFETY: plain libc calls on local memory. Every signal is blocked across the clone so
        // that no handler runs in the child before it has reset the dispositions; this thread
        // gets its mask back after.
        unsafe {
            libc::sigfillset(all.as_mut_ptr());
            libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), &mut before);
            let pid = libc::clone(
                child,
                top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&raw mut args).cast::<c_void>(),
            );
            let clone_error = io::Error::last_os_error();
            libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
            if pid < 0 { Err(clone_error) } else { Ok(pid) }
        }
    };
    STACK.set(Some(stack));
    drop(moved);
    let pid = pid?;
    let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("clone returned pid 0"))?;
    // CLONE_VFORK: the child has exec'd or exited by now, so what it wrote is here to read.
    match args.error.load(Ordering::Acquire) {
        0 => Ok(pid),
        errno => {
            // It exited without exec'ing: reap it so no zombie is left.
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
            Err(io::Error::from_raw_os_error(errno))
        }
    }
}

/// The child: signal dispositions, process group, descriptors, directory, mask, exec.
/// Nothing here may panic: the parent waits for the child to exec or exit, and a panicking
/// child would take locks the parent holds.
extern "C" fn child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the parent's `ChildArgs`, alive and untouched while the parent is
    // suspended (CLONE_VFORK). Only system calls on prepared memory happen here.
    unsafe {
        let args = &*arg.cast::<ChildArgs>();
        let mut action: libc::sigaction = std::mem::zeroed();
        let mut pending = args.reset;
        while pending != 0 {
            let signal = pending.trailing_zeros() as c_int + 1;
            pending &= pending - 1;
            action.sa_sigaction = if args.ignored & bit(signal) != 0 {
                libc::SIG_IGN
            } else {
                libc::SIG_DFL
            };
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
        let fail = |args: &ChildArgs| -> c_int {
            args.error
                .store(*libc::__errno_location(), Ordering::Release);
            libc::_exit(127)
        };
        if libc::setpgid(0, 0) != 0 {
            return fail(args);
        }
        for (target, source) in args.stdio.iter().enumerate() {
            if libc::dup2(*source, target as c_int) < 0 {
                return fail(args);
            }
        }
        if !args.cwd.is_null() && libc::chdir(args.cwd) != 0 {
            return fail(args);
        }
        libc::sigprocmask(libc::SIG_SETMASK, &args.unblocked, std::ptr::null_mut());
        libc::execve(args.path, args.argv, args.envp);
        fail(args)
    }
}

/// Signals whose handler `runbook`'s own code installs, possibly after the first spawn: SIGINT
/// (an interrupted run stops its steps) and SIGCHLD (the reaper). tests/signal_handlers.rs
/// fails if the running binary handles any signal not reset here.
const HANDLED_LATER: [c_int; 2] = [libc::SIGINT, libc::SIGCHLD];

/// What the child resets, read once, at the first spawn.
static DISPOSITIONS: OnceLock<Dispositions> = OnceLock::new();

struct Dispositions {
    reset: u64,
    ignored: u64,
}

impl Dispositions {
    /// Every signal with a handler by now (Rust's own, for stack overflows, among them), the
    /// ones `runbook` handles later, and SIGPIPE: Rust ignores it for itself and every child
    /// gets it back at its default, as `std::process::Command` does. A signal ignored now
    /// stays ignored in children: `runbook` never ignores a signal itself, so it was the
    /// invoker's choice.
    fn read() -> Self {
        let mut handled = HANDLED_LATER.iter().fold(0, |set, s| set | bit(*s));
        let mut ignored = 0;
        for signal in 1..=LAST_SIGNAL {
            let mut old = MaybeUninit::<libc::sigaction>::zeroed();
            // SAFETY: a query (no new action) into local memory.
            if unsafe { libc::sigaction(signal, std::ptr::null(), old.as_mut_ptr()) } != 0 {
                continue; // no such signal, or one glibc keeps to itself
            }
            // SAFETY: zero-initialised, and filled in by the call that succeeded.
            match unsafe { old.assume_init() }.sa_sigaction {
                libc::SIG_IGN => ignored |= bit(signal),
                libc::SIG_DFL => {}
                _ => handled |= bit(signal),
            }
        }
        let sigpipe = bit(libc::SIGPIPE);
        Self {
            reset: handled | sigpipe,
            ignored: ignored & !sigpipe,
        }
    }
}

fn empty_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        set.assume_init()
    }
}

/// Signal `n`'s bit in a set, numbered as the kernel does (`n - 1`): a plain shift, nothing
/// that could panic, since the child must not.
const fn bit(signal: c_int) -> u64 {
    1u64.wrapping_shl(signal.wrapping_sub(1) as u32)
}

fn c_string(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "nul byte found in provided data",
        )
    })
}

fn null_terminated<'a>(items: impl Iterator<Item = &'a CStr>) -> Vec<*const c_char> {
    items
        .map(CStr::as_ptr)
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// `KEY=value` for the environment.
pub(super) fn env_entry(key: &OsStr, value: &OsStr) -> io::Result<CString> {
    let mut bytes = Vec::with_capacity(key.len() + value.len() + 2);
    bytes.extend_from_slice(key.as_bytes());
    bytes.push(b'=');
    bytes.extend_from_slice(value.as_bytes());
    c_string(OsStr::from_bytes(&bytes))
}

#[cfg(test)]
mod tests;
