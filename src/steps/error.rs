//! A step's failure: what kind it is (which decides whether it is tried again) and a message
//! that holds no secret value (consumers redact again regardless).

use crate::failure::ErrorKind;
use crate::host::HostError;
use crate::template::TemplateError;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct StepError {
    kind: ErrorKind,
    message: String,
}

impl StepError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// Whether another try may go differently; see [`ErrorKind::is_retryable`].
    pub(crate) fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// The same failure, its message said in a wider context (`verify failed: ...`).
    pub(crate) fn context(self, prefix: &str) -> Self {
        Self {
            kind: self.kind,
            message: format!("{prefix}: {}", self.message),
        }
    }

    /// The same failure, with a note after its message (`... (after 3 tries)`).
    pub(crate) fn note(self, note: &str) -> Self {
        Self {
            kind: self.kind,
            message: format!("{} ({note})", self.message),
        }
    }
}

impl From<HostError> for StepError {
    fn from(err: HostError) -> Self {
        let kind = match err {
            HostError::Spawn(_) => ErrorKind::Spawn,
            HostError::File { .. } | HostError::Io(_) | HostError::Remote { .. } => ErrorKind::Io,
            HostError::Unreachable { .. } => ErrorKind::Unreachable,
        };
        Self::new(kind, err.to_string())
    }
}

impl From<TemplateError> for StepError {
    fn from(err: TemplateError) -> Self {
        Self::new(ErrorKind::Template, format!("template: {err}"))
    }
}
