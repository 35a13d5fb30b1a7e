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

#[test]
fn what_a_child_resets_is_every_handled_signal_and_sigpipe() {
    extern "C" fn nothing(_: libc::c_int) {}
    // SAFETY: a handler that does nothing, on a signal nothing else in the tests uses,
    // put back to its default before returning.
    let set = |handler: libc::sighandler_t| unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()),
            0
        );
    };
    set(nothing as extern "C" fn(libc::c_int) as libc::sighandler_t);
    let read = super::Dispositions::read();
    set(libc::SIG_DFL);
    let has = |signal| read.reset & super::bit(signal) != 0;
    // Installed here; Rust's stack-overflow handler; runbook's own two; SIGPIPE.
    for signal in [
        libc::SIGUSR1,
        libc::SIGSEGV,
        libc::SIGINT,
        libc::SIGCHLD,
        libc::SIGPIPE,
    ] {
        assert!(has(signal), "signal {signal} not reset: {:x}", read.reset);
    }
    // At their default here, so already right in a child.
    assert!(
        !has(libc::SIGUSR2) && !has(libc::SIGTERM),
        "{:x}",
        read.reset
    );
    assert_eq!(read.ignored & super::bit(libc::SIGPIPE), 0);
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
