//! The documented exit codes. Scripts and cron jobs rely on these numbers.

/// The run finished; or a read-only command succeeded.
pub(crate) const DONE: u8 = 0;
/// A step failed and everything was rolled back: the system is as before.
/// (`status --check`: something is overdue.)
pub(crate) const FAILED: u8 = 1;
/// Invalid input or usage; nothing was done.
pub(crate) const INVALID: u8 = 2;
/// The run needs an operator: rollback incomplete, an incident run paused, or a manual step
/// awaiting the operator (`resume` continues).
pub(crate) const NEEDS_OPERATOR: u8 = 3;
/// Another run holds the lock, or an unfinished run must be resumed or aborted first.
pub(crate) const LOCKED: u8 = 4;
/// Interrupted; the state is journaled and the run can be resumed.
pub(crate) const INTERRUPTED: u8 = 130;
