//! One retry policy for every retrying step: how many attempts, the pause after a failed one,
//! and how that pause grows. A pause ends at once when the run is cancelled (a second
//! Ctrl-C), so no new attempt starts after the operator asked the run to stop.

use std::time::Duration;

use tokio::sync::watch;

use crate::checked::{Step, StepKind};
use crate::failure::ErrorKind;
use crate::steps::StepError;

/// The pause between attempts when a step names none.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// No pause grows past this, whatever the backoff: an operator waits for the run.
const LONGEST_PAUSE: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct RetryPolicy {
    /// Attempts in all, the first included: `retries + 1`.
    attempts: u32,
    interval: Duration,
    /// Each pause is this many times the one before (1: a fixed interval).
    backoff: u32,
}

/// The run was cancelled while waiting to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cancelled;

impl RetryPolicy {
    /// A step's policy: `retries`, `interval` and `backoff`; a `verify` step's own `retries`
    /// and `interval` win over the step's. A templated interval is rendered with `render`;
    /// one that renders to no duration fails the same way every time: a template error.
    pub(super) fn of(
        step: &Step,
        render: impl FnOnce(&str) -> Result<String, StepError>,
    ) -> Result<Self, StepError> {
        let (retries, interval) = match &step.kind {
            StepKind::Verify(spec) => (
                spec.retries.or(step.retries),
                spec.interval.as_ref().or(step.interval.as_ref()),
            ),
            _ => (step.retries, step.interval.as_ref()),
        };
        let interval = match interval {
            Some(interval) => interval
                .resolve(|text| render(text).map_err(|e| e.message().to_string()))
                .map_err(|message| StepError::new(ErrorKind::Template, message))?,
            None => DEFAULT_INTERVAL,
        };
        Ok(Self {
            attempts: retries.unwrap_or(0).saturating_add(1),
            interval,
            backoff: step.backoff.unwrap_or(1).max(1),
        })
    }

    /// Whether another attempt may follow attempt `attempt` (counted from 1).
    pub(super) fn allows_after(&self, attempt: u32) -> bool {
        attempt < self.attempts
    }

    /// The pause after failed attempt `attempt` (counted from 1).
    pub(super) fn pause_after(&self, attempt: u32) -> Duration {
        let factor = self
            .backoff
            .checked_pow(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.interval
            .checked_mul(factor)
            .map_or(LONGEST_PAUSE, |pause| pause.min(LONGEST_PAUSE))
    }

    /// Waits out the pause after `attempt`, or less: it ends with `Cancelled` as soon as
    /// `cancel` is (or already was) true.
    pub(super) async fn wait_after(
        &self,
        attempt: u32,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<(), Cancelled> {
        if *cancel.borrow_and_update() {
            return Err(Cancelled);
        }
        tokio::select! {
            () = tokio::time::sleep(self.pause_after(attempt)) => Ok(()),
            () = cancelled(cancel) => Err(Cancelled),
        }
    }
}

/// Resolves when `cancel` becomes true; never, once no sender is left to cancel.
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|cancelled| *cancelled).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(attempts: u32, interval_ms: u64, backoff: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            interval: Duration::from_millis(interval_ms),
            backoff,
        }
    }

    #[test]
    fn retries_count_after_the_first_attempt() {
        let policy = policy(3, 10, 1);
        assert!(policy.allows_after(1) && policy.allows_after(2));
        assert!(!policy.allows_after(3));
    }

    #[test]
    fn backoff_multiplies_each_pause_and_is_capped() {
        let policy = policy(10, 1000, 2);
        assert_eq!(policy.pause_after(1), Duration::from_secs(1));
        assert_eq!(policy.pause_after(2), Duration::from_secs(2));
        assert_eq!(policy.pause_after(4), Duration::from_secs(8));
        assert_eq!(policy.pause_after(40), LONGEST_PAUSE);
    }

    #[test]
    fn a_wait_ends_when_the_run_is_cancelled() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (sender, mut receiver) = watch::channel(false);
        let policy = policy(2, 3_600_000, 1);
        let result = runtime.block_on(async {
            let wait = policy.wait_after(1, &mut receiver);
            let cancel = async {
                tokio::task::yield_now().await;
                sender.send(true).unwrap();
                std::future::pending::<()>().await
            };
            let raced = async {
                tokio::select! {
                    result = wait => result,
                    () = cancel => unreachable!("the cancelling future never ends"),
                }
            };
            // A bound so that a wait that ignores cancellation fails the test, not hangs it.
            tokio::time::timeout(Duration::from_secs(60), raced).await
        });
        assert_eq!(result, Ok(Err(Cancelled)));
    }
}
