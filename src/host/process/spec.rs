//! What one step runs ([`ProcessSpec`]) and how it ended ([`ProcessOutcome`]): the data on
//! either side of a run, apart from the code that runs it.
//!
//! Arguments, stdin, environment values and output can hold secrets, so the Debug impls here
//! show only the program, counts and lengths.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// The default time between SIGTERM and SIGKILL.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// What to run for one step.
#[derive(Clone)]
pub(crate) struct ProcessSpec {
    /// The program, looked up on `PATH` if it has no slash. For a shell string the caller passes
    /// `"sh"` with the arguments `["-c", script]`.
    pub program: String,
    pub args: Vec<String>,
    /// Written to the child's stdin, which is then closed. `None` connects stdin to /dev/null.
    /// This may hold a secret.
    pub stdin: Option<Vec<u8>>,
    /// Added to the inherited environment. Values may hold secrets.
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Measured from the moment the child has been spawned.
    pub timeout: Option<Duration>,
    /// How long the direct child gets between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// The `sh -c` string this spec runs without a shell; if the program cannot be spawned,
    /// the shell runs the string instead (and reports "not found" and 127 its own way).
    pub shell_fallback: Option<String>,
}

impl ProcessSpec {
    /// A spec with no stdin, no extra environment, no timeout and the default grace.
    pub(crate) fn new(
        program: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        ProcessSpec {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            stdin: None,
            env: Vec::new(),
            cwd: None,
            timeout: None,
            grace: DEFAULT_GRACE,
            shell_fallback: None,
        }
    }

    /// A spec that runs `script` as `sh -c` would: directly when it is a plain command
    /// (see [`crate::host::shell`]), else with `sh -c`.
    pub(crate) fn shell(script: impl Into<String>) -> Self {
        let script = script.into();
        match crate::host::shell::direct_argv(&script) {
            Some(mut words) => {
                let program = words.remove(0);
                let mut spec = ProcessSpec::new(program, words);
                spec.shell_fallback = Some(script);
                spec
            }
            None => ProcessSpec::new("sh", ["-c".to_owned(), script]),
        }
    }
}

/// Only the program and the number of arguments are shown: arguments, stdin and environment
/// values can all hold secrets.
impl fmt::Debug for ProcessSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessSpec")
            .field("program", &self.program)
            .field("args", &format_args!("<{} args>", self.args.len()))
            .finish_non_exhaustive()
    }
}

/// Which pipe a chunk of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OutputStream {
    Stdout,
    Stderr,
}

/// How the direct child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Termination {
    /// It exited by itself with this code.
    Exited(i32),
    /// It was killed by this signal, and not by us.
    Signaled(i32),
    /// The timeout expired and the group was terminated.
    TimedOut,
    /// Cancellation was requested and the group was terminated (or never started).
    Cancelled,
}

impl Termination {
    pub(in crate::host) fn from_status(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => Termination::Exited(code),
            (None, Some(signal)) => Termination::Signaled(signal),
            // `wait` never reports a stopped or continued child, so this is not expected; the raw
            // status is still more useful to the user than a panic.
            (None, None) => Termination::Exited(status.into_raw()),
        }
    }
}

/// The result of one process run. `stdout` and `stderr` are unredacted, so Debug shows only
/// their lengths.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ProcessOutcome {
    pub status: Termination,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl fmt::Debug for ProcessOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessOutcome")
            .field("status", &self.status)
            .field("stdout", &format_args!("<{} bytes>", self.stdout.len()))
            .field("stderr", &format_args!("<{} bytes>", self.stderr.len()))
            .finish()
    }
}
