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
//! by then every signal is at its default or ignored (a handler would run on memory the
//! parent owns), except glibc's two internal ones, which `sigaction` will not touch and which
//! glibc only ever sends to this process's own threads.

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
    /// Signal `n`'s bit (`n - 1`) set: it stays ignored in the child, as `posix_spawn` leaves it.
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
    let mut args = ChildArgs {
        path: path.as_ptr(),
        argv: argv_ptrs.as_ptr(),
        envp: envp_ptrs.as_ptr(),
        cwd: cwd.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
        stdio: fds,
        unblocked: empty_set(),
        ignored: ignored_signals(),
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
        for signal in 1..=LAST_SIGNAL {
            action.sa_sigaction = if args.ignored & bit(signal) != 0 {
                libc::SIG_IGN
            } else {
                libc::SIG_DFL
            };
            // Refused for SIGKILL, SIGSTOP and glibc's own two; nothing to do about that.
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

/// The signals ignored in this process, which a child inherits ignored (as with
/// `posix_spawn`), except SIGPIPE: Rust ignores it for itself, and every child gets it back
/// at its default, as `std::process::Command` does. Read once: `runbook` only ever installs
/// handlers after start, it never ignores a signal.
fn ignored_signals() -> u64 {
    static IGNORED: OnceLock<u64> = OnceLock::new();
    *IGNORED.get_or_init(|| {
        let mut ignored = 0;
        for signal in 1..=LAST_SIGNAL {
            let mut old = MaybeUninit::<libc::sigaction>::zeroed();
            // SAFETY: a query (no new action) into local memory.
            let read = unsafe { libc::sigaction(signal, std::ptr::null(), old.as_mut_ptr()) };
            // SAFETY: zero-initialised, and filled in when the call succeeded.
            if read == 0 && unsafe { old.assume_init() }.sa_sigaction == libc::SIG_IGN {
                ignored |= bit(signal);
            }
        }
        ignored & !bit(libc::SIGPIPE)
    })
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
mod tests {
    //! The child's starting state, seen from inside it through /proc; each would differ if a
    //! step of the child were missing (no mask restored, SIGPIPE left ignored, a descriptor
    //! dup'd onto itself or leaked, the environment not replaced).
    use super::super::{ProcessSpec, Termination, run_process};
    use tokio::sync::watch;

    /// Runs `spec` and returns its stdout, which must be UTF-8.
    async fn stdout_of(spec: &ProcessSpec) -> String {
        let (_tx, rx) = watch::channel(false);
        let outcome = run_process(spec, &mut |_, _| {}, rx).await.expect("run");
        assert_eq!(outcome.status, Termination::Exited(0), "{outcome:?}");
        String::from_utf8(outcome.stdout).expect("utf-8")
    }

    /// The hexadecimal set on the line `name:` of a /proc status file.
    fn set_of(status: &str, name: &str) -> u64 {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("no {name} in {status}"));
        u64::from_str_radix(line.trim(), 16).expect("hex")
    }

    #[tokio::test]
    async fn a_child_starts_with_no_signal_blocked_and_only_inherited_ignores() {
        let ours_process = std::fs::read_to_string("/proc/self/status").expect("status");
        // This thread (the test's runtime runs the spawn on it) blocks SIGUSR2 meanwhile.
        let mut usr2 = super::empty_set();
        // SAFETY: libc calls on a local set.
        unsafe {
            libc::sigaddset(&mut usr2, libc::SIGUSR2);
            libc::pthread_sigmask(libc::SIG_BLOCK, &usr2, std::ptr::null_mut());
        }
        let theirs = stdout_of(&ProcessSpec::new("cat", ["/proc/self/status"])).await;
        let ours_thread = std::fs::read_to_string("/proc/thread-self/status").expect("status");
        // SAFETY: as above.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &usr2, std::ptr::null_mut()) };
        // Every signal was blocked across the clone; the child starts with none blocked, and
        // this thread has its own mask back.
        assert_eq!(set_of(&theirs, "SigBlk"), 0);
        assert_eq!(set_of(&ours_thread, "SigBlk"), 1 << (libc::SIGUSR2 - 1));
        // Rust ignores SIGPIPE for itself (bit 12 is signal 13); a child gets it back at its
        // default. Anything else ignored here was inherited, and is passed on.
        let sigpipe = 1 << 12;
        assert_ne!(set_of(&ours_process, "SigIgn") & sigpipe, 0);
        assert_eq!(
            set_of(&theirs, "SigIgn"),
            set_of(&ours_process, "SigIgn") & !sigpipe
        );
    }

    #[tokio::test]
    async fn a_child_has_its_three_descriptors_and_what_we_were_given_open() {
        // What this process has without close-on-exec (from whoever started it) goes on to
        // children, as with any spawn; everything `runbook` opened does not.
        let mut expected: Vec<String> = vec!["0".into(), "1".into(), "2".into()];
        for entry in std::fs::read_dir("/proc/self/fd").expect("fds").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(fd) = name.parse::<i32>() else {
                continue;
            };
            let Ok(file) = std::fs::File::open(format!("/proc/self/fdinfo/{fd}")) else {
                continue;
            };
            let info = std::io::read_to_string(file).unwrap_or_default();
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok());
            // O_CLOEXEC is 0o2000000 in fdinfo's octal flags.
            if fd > 2 && flags.is_some_and(|f| f & 0o2_000_000 == 0) {
                expected.push(name);
            }
        }
        // Listing its descriptors opens one more, the lowest free: the directory being read.
        let reading = (3..)
            .find(|fd: &i32| !expected.contains(&fd.to_string()))
            .expect("a free descriptor");
        expected.push(reading.to_string());
        expected.sort();
        let listed = stdout_of(&ProcessSpec::new("ls", ["/proc/self/fd"])).await;
        let mut listed: Vec<String> = listed.split_whitespace().map(str::to_owned).collect();
        listed.sort();
        assert_eq!(listed, expected);
    }

    #[tokio::test]
    async fn the_environment_is_ours_with_the_specs_variables_last_one_winning() {
        let mut spec = ProcessSpec::new("env", Vec::<String>::new());
        spec.env = vec![
            ("RB_VFORK_A".into(), "first".into()),
            ("HOME".into(), "/replaced".into()),
            ("RB_VFORK_A".into(), "second".into()),
        ];
        let listed = stdout_of(&spec).await;
        let mut theirs: Vec<&str> = listed.lines().collect();
        theirs.sort_unstable();
        let mut expected: Vec<String> = std::env::vars()
            .filter(|(k, _)| k != "HOME")
            .map(|(k, v)| format!("{k}={v}"))
            .chain(["HOME=/replaced".into(), "RB_VFORK_A=second".into()])
            .collect();
        expected.sort_unstable();
        assert_eq!(theirs, expected);
    }

    #[test]
    fn an_exec_that_fails_is_reported_and_its_child_reaped() {
        // An executable file the kernel cannot run: the child's `execve` fails with ENOEXEC
        // (no shell is tried), and the child has exited by the time `spawn` returns.
        let dir = std::env::temp_dir().join(format!("runbook-vfork-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("not-a-program");
        std::fs::write(&file, b"\x7fELF but not really").expect("write");
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let null = std::fs::File::open("/dev/null").expect("/dev/null");
        let fd = std::os::fd::AsFd::as_fd(&null);
        let error = super::spawn(&file, &[file.as_os_str()], &[], None, [fd, fd, fd])
            .expect_err("a file that is no program");
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert_eq!(error.raw_os_error(), Some(libc::ENOEXEC), "{error}");
        // This test's thread spawned nothing else: a child it left unreaped would be listed.
        let children = std::fs::read_to_string("/proc/thread-self/children").expect("children");
        assert_eq!(children.trim(), "", "a child was left unreaped");
    }

    #[tokio::test]
    async fn a_directory_that_does_not_exist_fails_the_spawn() {
        let mut spec = ProcessSpec::new("true", Vec::<String>::new());
        spec.cwd = Some("/nonexistent/runbook-no-such-dir".into());
        let (_tx, rx) = watch::channel(false);
        let error = run_process(&spec, &mut |_, _| {}, rx).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "{error}");
    }
}
