//! What kind of failure a step had. A leaf: steps produce it, the scheduler asks it whether
//! to try again, events and the journal carry it, so scripts can tell a typo in a template
//! from a service that was not up yet.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A template did not render. The same input fails the same way: never tried again.
    Template,
    /// A process could not be started.
    Spawn,
    /// A process exited with a code other than the expected one, or died of a signal.
    Exit,
    /// An `expect`, or a verify's check, was not met.
    Expectation,
    /// The step ran out of time; its process group was terminated.
    Timeout,
    /// The run was interrupted (a second Ctrl-C), or a verify was stopped because another
    /// step failed.
    Cancelled,
    /// The journal or a pending file could not be written: going on would lose track.
    Journal,
    /// A file could not be read, written or restored.
    Io,
    /// A host could not be reached over SSH, or its connection dropped mid-step. Not tried
    /// again, as Ansible stops using an unreachable host: the run rolls back instead.
    Unreachable,
    /// Refused before acting: a secret on a command line, a malformed env file, a missing key.
    Refused,
    /// An operator was needed and none answered (no terminal, an empty input), or the
    /// operator chose to stop and roll back.
    Operator,
    /// Not a failure: a manual step needs a person and none is at a terminal. The step stops
    /// there, awaiting the operator; what does not need it goes on, and nothing is undone.
    Awaiting,
    /// A bug in runbook.
    Bug,
}

impl ErrorKind {
    /// Every kind, in the order of the README's table.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::Template,
        ErrorKind::Spawn,
        ErrorKind::Exit,
        ErrorKind::Expectation,
        ErrorKind::Timeout,
        ErrorKind::Cancelled,
        ErrorKind::Journal,
        ErrorKind::Io,
        ErrorKind::Unreachable,
        ErrorKind::Refused,
        ErrorKind::Operator,
        ErrorKind::Awaiting,
        ErrorKind::Bug,
    ];

    /// The name JSON events and the journal use.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Template => "template",
            ErrorKind::Spawn => "spawn",
            ErrorKind::Exit => "exit",
            ErrorKind::Expectation => "expectation",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Journal => "journal",
            ErrorKind::Io => "io",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Refused => "refused",
            ErrorKind::Operator => "operator",
            ErrorKind::Awaiting => "awaiting",
            ErrorKind::Bug => "bug",
        }
    }

    /// Whether another try may go differently: a service coming up, a flaky network, a slow
    /// disk. Deterministic failures, and those where going on is unsafe, are not retried.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Spawn
                | ErrorKind::Exit
                | ErrorKind::Expectation
                | ErrorKind::Timeout
                | ErrorKind::Io
        )
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    #[test]
    fn names_are_the_serialized_form() {
        for kind in ErrorKind::ALL {
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.name())
            );
        }
    }
}
