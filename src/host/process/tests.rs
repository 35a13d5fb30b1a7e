//! Tests for `run_process`, all against real processes, with process groups inspected via /proc.

use std::fs;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, getpgrp, kill_process_group};
use tokio::sync::{mpsc, watch};

use super::*;

/// How long a test waits for SIGKILLed processes to finish dying: delivery is asynchronous.
const DEATH_BOUND: Duration = Duration::from_secs(5);

/// The live (not zombie) processes whose process group is `pgid`.
fn live_members(pgid: i32) -> Vec<i32> {
    let mut members = Vec::new();
    for entry in fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // The process may have vanished since the directory was listed.
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name may contain spaces and parentheses, so fields are counted from the
        // last ')': state, ppid, pgrp, ...
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (state, pgrp) = (fields[0], fields[2].parse::<i32>().expect("pgrp"));
        // A zombie has already died; only its parent's wait is outstanding, and orphans are
        // reaped by whatever init this container has.
        if pgrp == pgid && state != "Z" && state != "X" {
            members.push(pid);
        }
    }
    members
}

/// Waits, up to `DEATH_BOUND`, for every process of the group to die, and returns the survivors.
async fn survivors(pgid: i32) -> Vec<i32> {
    let give_up = Instant::now() + DEATH_BOUND;
    loop {
        let members = live_members(pgid);
        if members.is_empty() || Instant::now() >= give_up {
            return members;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The number on the first complete line of `output`, which the scripts use to report `$$`.
fn first_line_pid(output: &[u8]) -> Option<i32> {
    let line = output.split(|&b| b == b'\n').next()?;
    if !output.contains(&b'\n') {
        return None;
    }
    std::str::from_utf8(line).ok()?.trim().parse().ok()
}

/// How long a test lets a run take before calling it a hang.
const HANG_BOUND: Duration = Duration::from_secs(30);

/// Runs `spec` without cancellation, returning the outcome and the chunks passed to `on_output`.
async fn run(spec: &ProcessSpec) -> (ProcessOutcome, Vec<(OutputStream, Vec<u8>)>) {
    let (_cancel_tx, cancel_rx) = watch::channel(false);
    let mut chunks = Vec::new();
    let mut on_output = |stream: OutputStream, chunk: &[u8]| chunks.push((stream, chunk.to_vec()));
    let outcome = bounded(run_process(spec, &mut on_output, cancel_rx)).await;
    (outcome, chunks)
}

/// Awaits a run, failing the test instead of hanging it if the run does not finish.
async fn bounded(run: impl Future<Output = io::Result<ProcessOutcome>>) -> ProcessOutcome {
    tokio::time::timeout(HANG_BOUND, run)
        .await
        .expect("the run hung")
        .expect("run_process")
}

fn concat(chunks: &[(OutputStream, Vec<u8>)], stream: OutputStream) -> Vec<u8> {
    chunks
        .iter()
        .filter(|(s, _)| *s == stream)
        .flat_map(|(_, chunk)| chunk.iter().copied())
        .collect()
}

/// A script that starts two long sleeps in its group, prints its pid (the group id), and waits.
fn tree_script(prefix: &str) -> ProcessSpec {
    ProcessSpec::shell(format!("{prefix}sleep 300 & sleep 300 & echo $$; wait"))
}

#[tokio::test]
async fn exit_code_and_output_are_collected_and_forwarded() {
    let (outcome, chunks) = run(&ProcessSpec::shell("echo out; echo err >&2; exit 3")).await;
    assert_eq!(outcome.status, Termination::Exited(3));
    assert_eq!(outcome.stdout, b"out\n");
    assert_eq!(outcome.stderr, b"err\n");
    assert_eq!(concat(&chunks, OutputStream::Stdout), b"out\n");
    assert_eq!(concat(&chunks, OutputStream::Stderr), b"err\n");
}

#[tokio::test]
async fn death_by_signal_is_reported_as_signaled() {
    let (outcome, _) = run(&ProcessSpec::shell("kill -KILL $$")).await;
    assert_eq!(outcome.status, Termination::Signaled(9));
}

#[tokio::test]
async fn stdin_is_written_then_closed() {
    let mut spec = ProcessSpec::new("cat", Vec::<String>::new());
    spec.stdin = Some(b"s3cret-value".to_vec());
    let (outcome, _) = run(&spec).await;
    assert_eq!(outcome.status, Termination::Exited(0));
    assert_eq!(outcome.stdout, b"s3cret-value");
}

#[tokio::test]
async fn no_stdin_means_dev_null() {
    let (outcome, _) = run(&ProcessSpec::shell("readlink /proc/$$/fd/0")).await;
    assert_eq!(outcome.stdout, b"/dev/null\n");
}

#[tokio::test]
async fn child_that_ignores_stdin_is_not_an_error() {
    // More than a pipe buffer, so the write is still pending when the child exits.
    let mut spec = ProcessSpec::new("true", Vec::<String>::new());
    spec.stdin = Some(vec![b'x'; 1 << 20]);
    let (outcome, _) = run(&spec).await;
    assert_eq!(outcome.status, Termination::Exited(0));
}

#[tokio::test]
async fn env_is_added_and_cwd_is_set() {
    let dir = std::env::temp_dir().canonicalize().expect("temp dir");
    let mut spec =
        ProcessSpec::shell(r#"printf '%s %s %s' "$RB_TEST_VALUE" "$(pwd)" "${PATH:+inherited}""#);
    spec.env = vec![("RB_TEST_VALUE".to_owned(), "from-env".to_owned())];
    spec.cwd = Some(dir.clone());
    let (outcome, _) = run(&spec).await;
    let expected = format!("from-env {} inherited", dir.display());
    assert_eq!(String::from_utf8_lossy(&outcome.stdout), expected);
}

#[tokio::test]
async fn spawn_error_names_the_program_and_no_secret() {
    let mut spec = ProcessSpec::new("/nonexistent/runbook-no-such-program", ["secret-arg"]);
    spec.env = vec![("TOKEN".to_owned(), "secret-env".to_owned())];
    let (_tx, rx) = watch::channel(false);
    let error = run_process(&spec, &mut |_, _| {}, rx).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
    let message = error.to_string();
    assert!(
        message.contains("/nonexistent/runbook-no-such-program"),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");
}

#[tokio::test]
async fn a_plain_command_runs_without_a_shell() {
    // /proc/self is the child itself: without a shell in between it is `cat`, not `sh`.
    let spec = ProcessSpec::shell("cat /proc/self/comm");
    assert_eq!(spec.program, "cat");
    let (outcome, _) = run(&spec).await;
    assert_eq!(outcome.status, Termination::Exited(0));
    assert_eq!(String::from_utf8_lossy(&outcome.stdout), "cat\n");
}

#[tokio::test]
async fn a_plain_command_in_another_directory_sees_it_as_pwd() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ProcessSpec::shell("printenv PWD");
    assert_eq!(spec.program, "printenv");
    spec.cwd = Some(dir.path().to_path_buf());
    let (outcome, _) = run(&spec).await;
    assert_eq!(
        String::from_utf8_lossy(&outcome.stdout).trim_end(),
        dir.path().display().to_string()
    );
}

#[tokio::test]
async fn a_plain_command_that_cannot_be_spawned_is_left_to_the_shell() {
    // A missing program: the shell's own message and exit code, as before the fast path.
    let (outcome, _) = run(&ProcessSpec::shell("runbook-no-such-program --flag")).await;
    assert_eq!(outcome.status, Termination::Exited(127));
    let stderr = String::from_utf8_lossy(&outcome.stderr);
    assert!(
        stderr.contains("runbook-no-such-program: not found"),
        "{stderr}"
    );

    // A script without a `#!` line cannot be exec'd; `sh -c` runs it as a shell script.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("legacy");
    fs::write(&script, "echo ran by the shell\nexit 4\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let spec = ProcessSpec::shell(script.display().to_string());
    assert_ne!(
        spec.program, "sh",
        "the path is plain, so it is tried directly first"
    );
    let (outcome, _) = run(&spec).await;
    assert_eq!(outcome.status, Termination::Exited(4));
    assert_eq!(
        String::from_utf8_lossy(&outcome.stdout),
        "ran by the shell\n"
    );
}

#[test]
fn debug_shows_program_and_arg_count_only() {
    let mut spec = ProcessSpec::shell("echo secret-arg >&2");
    spec.stdin = Some(b"secret-stdin".to_vec());
    spec.env = vec![("TOKEN".to_owned(), "secret-env".to_owned())];
    let shown = format!("{spec:?}");
    assert!(
        shown.contains("\"sh\"") && shown.contains("<2 args>"),
        "{shown}"
    );
    assert!(!shown.contains("secret"), "{shown}");
    // A plain command runs without the shell; the string it came from is not shown either.
    let direct = format!("{:?}", ProcessSpec::shell("echo secret-arg"));
    assert!(
        direct.contains("\"echo\"") && direct.contains("<1 args>"),
        "{direct}"
    );
    assert!(!direct.contains("secret"), "{direct}");

    let outcome = ProcessOutcome {
        status: Termination::Exited(0),
        stdout: b"secret-out".to_vec(),
        stderr: Vec::new(),
    };
    let shown = format!("{outcome:?}");
    assert!(
        shown.contains("<10 bytes>") && !shown.contains("secret"),
        "{shown}"
    );
}

#[tokio::test]
async fn large_output_on_both_streams_does_not_deadlock() {
    // Both orders: a reader that drained one pipe to EOF first would block the child forever on
    // the other, full pipe. The timeout turns such a deadlock into a failure instead of a hang.
    for script in [
        "head -c 200000 /dev/zero; head -c 200000 /dev/zero >&2",
        "head -c 200000 /dev/zero >&2; head -c 200000 /dev/zero",
    ] {
        let mut spec = ProcessSpec::shell(script);
        spec.timeout = Some(Duration::from_secs(30));
        let (outcome, chunks) = run(&spec).await;
        assert_eq!(outcome.status, Termination::Exited(0), "{script}");
        assert_eq!(outcome.stdout.len(), 200_000, "{script}");
        assert_eq!(outcome.stderr.len(), 200_000, "{script}");
        assert_eq!(concat(&chunks, OutputStream::Stdout).len(), 200_000);
        assert_eq!(concat(&chunks, OutputStream::Stderr).len(), 200_000);
    }
}

/// Runs a tree script with a 1 s timeout and 1 s grace, and checks the whole group is dead.
async fn assert_timeout_kills_tree(spec: &mut ProcessSpec) -> Duration {
    spec.timeout = Some(Duration::from_secs(1));
    spec.grace = Duration::from_secs(1);
    let (_tx, rx) = watch::channel(false);
    let mut stdout = Vec::new();
    let mut members_while_running = Vec::new();
    let mut on_output = |stream: OutputStream, chunk: &[u8]| {
        if stream == OutputStream::Stdout {
            stdout.extend_from_slice(chunk);
            if let (true, Some(pgid)) = (members_while_running.is_empty(), first_line_pid(&stdout))
            {
                members_while_running = live_members(pgid);
            }
        }
    };
    let started = Instant::now();
    let outcome = bounded(run_process(spec, &mut on_output, rx)).await;
    let elapsed = started.elapsed();

    assert_eq!(outcome.status, Termination::TimedOut);
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    let pgid = first_line_pid(&outcome.stdout).expect("script printed its pid");
    assert_ne!(
        pgid,
        getpgrp().as_raw_pid(),
        "the child must lead its own group"
    );
    // The shell and both sleeps were in the group; `sleep` may not have exec'd yet, but it has
    // been forked, so it counts.
    assert!(
        members_while_running.len() >= 3,
        "{members_while_running:?}"
    );
    assert_eq!(survivors(pgid).await, Vec::<i32>::new());
    elapsed
}

#[tokio::test]
async fn timeout_kills_the_whole_tree() {
    assert_timeout_kills_tree(&mut tree_script("")).await;
}

#[tokio::test]
async fn timeout_kills_a_tree_that_ignores_sigterm() {
    // The ignored disposition is inherited by the sleeps, so only SIGKILL after the grace works.
    let elapsed = assert_timeout_kills_tree(&mut tree_script("trap '' TERM; ")).await;
    assert!(
        elapsed >= Duration::from_secs(2),
        "SIGKILL came before the grace: {elapsed:?}"
    );
}

#[tokio::test]
async fn cancel_terminates_the_tree() {
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let mut spec = tree_script("");
    spec.grace = Duration::from_secs(1);
    let mut stdout = Vec::new();
    let mut on_output = |_: OutputStream, chunk: &[u8]| {
        stdout.extend_from_slice(chunk);
        // The tree is fully started once it printed its pid; that is when "Ctrl-C" comes.
        if first_line_pid(&stdout).is_some() {
            cancel_tx.send_replace(true);
        }
    };
    let started = Instant::now();
    let outcome = bounded(run_process(&spec, &mut on_output, cancel_rx)).await;
    assert_eq!(outcome.status, Termination::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let pgid = first_line_pid(&outcome.stdout).expect("pid");
    assert_eq!(survivors(pgid).await, Vec::<i32>::new());
}

#[tokio::test]
async fn cancelled_before_start_spawns_nothing() {
    let marker = std::env::temp_dir().join(format!("runbook-process-test-{}", std::process::id()));
    let _ = fs::remove_file(&marker);
    let (_tx, rx) = watch::channel(true);
    let spec = ProcessSpec::new("touch", [marker.to_string_lossy().into_owned()]);
    let outcome = run_process(&spec, &mut |_, _| {}, rx).await.expect("run");
    assert_eq!(outcome.status, Termination::Cancelled);
    assert!(!marker.exists());
}

#[tokio::test]
async fn dropping_the_future_kills_the_group() {
    let (_cancel_tx, cancel_rx) = watch::channel(false);
    let (pid_tx, mut pid_rx) = mpsc::unbounded_channel();
    let mut stdout = Vec::new();
    let mut on_output = move |_: OutputStream, chunk: &[u8]| {
        stdout.extend_from_slice(chunk);
        if let Some(pid) = first_line_pid(&stdout) {
            let _ = pid_tx.send(pid);
        }
    };
    let spec = tree_script("");
    let mut running = Box::pin(run_process(&spec, &mut on_output, cancel_rx));
    let pgid = tokio::select! {
        result = &mut running => panic!("finished early: {result:?}"),
        pid = pid_rx.recv() => pid.expect("pid"),
    };
    assert!(live_members(pgid).len() >= 3, "{:?}", live_members(pgid));
    // What an executor does when it aborts a task.
    drop(running);
    assert_eq!(survivors(pgid).await, Vec::<i32>::new());
    // Its leader is reaped by the next child's waiter: no zombie is left for the run's life.
    let give_up = Instant::now() + DEATH_BOUND;
    while std::path::Path::new(&format!("/proc/{pgid}")).exists() {
        assert!(Instant::now() < give_up, "the dropped child stays a zombie");
        let (outcome, _) = run(&ProcessSpec::new("true", Vec::<String>::new())).await;
        assert_eq!(outcome.status, Termination::Exited(0));
    }
}

#[tokio::test]
async fn leftover_grandchild_holding_the_pipes_does_not_hang() {
    let started = Instant::now();
    let spec = ProcessSpec::shell("echo $$ >&2; sleep 300 & echo hi");
    let (outcome, _) = run(&spec).await;
    let elapsed = started.elapsed();
    let pgid = first_line_pid(&outcome.stderr).expect("pid");
    let leftovers = live_members(pgid);
    // Clean up before asserting, so a failure does not leak a sleep.
    let _ = kill_process_group(Pid::from_raw(pgid).expect("pid"), Signal::KILL);

    assert_eq!(outcome.status, Termination::Exited(0));
    assert_eq!(outcome.stdout, b"hi\n");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    // On a normal exit the group is left alone (restart drivers start daemons).
    assert!(
        !leftovers.is_empty(),
        "the sleep should have been left running"
    );
    assert_eq!(survivors(pgid).await, Vec::<i32>::new());
}
