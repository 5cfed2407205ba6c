//! The one place where a handler's result becomes a run transition (Oban's `ack_event`, River's
//! `JobSetState*`). Pure: the run actor persists what this returns.

use super::state::{RunEvent, RunStatus, transition};
use crate::backoff::Backoff;
use crate::error::{ErrorInfo, FnError, Interrupt};
use crate::store::RunChange;

/// How long a run pauses when the store could not be reached before it is claimed again.
pub const STORAGE_PAUSE_MS: i64 = 2_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Persist this change.
    Persist(RunChange),
    /// Our lease was fenced off: another worker owns the run; write nothing.
    Abandon,
}

/// Maps a handler's result to the change to persist. `attempt` is the function-level attempt that just ran.
/// `notify`: the run's end must be told to others (system event listeners, an invoking parent).
pub fn decide(
    result: Result<serde_json::Value, FnError>,
    attempt: u32,
    retries: u32,
    backoff: Backoff,
    now_ms: i64,
    notify: bool,
) -> Decision {
    let change = |event: RunEvent, output, error, run_at_ms, attempt| {
        let to = transition(RunStatus::Running, event).expect("every run decision starts from running");
        Decision::Persist(RunChange {
            from: RunStatus::Running,
            to,
            event,
            output,
            error,
            run_at_ms,
            attempt,
            at_ms: now_ms,
            notify: notify && to.is_final(),
            resolved_since_ms: None,
            steps: Vec::new(),
        })
    };
    let fail = |error: ErrorInfo| change(RunEvent::FailedForGood, None, Some(error), None, attempt);
    match result {
        Ok(output) => change(RunEvent::Succeeded, Some(output), None, None, attempt),
        Err(FnError::Interrupted(Interrupt::RetryAt(at))) => {
            change(RunEvent::RetryScheduled, None, None, Some(at), attempt)
        }
        Err(FnError::Interrupted(Interrupt::Shutdown)) => change(RunEvent::Released, None, None, Some(now_ms), attempt),
        Err(FnError::Interrupted(Interrupt::LeaseLost)) => Decision::Abandon,
        Err(FnError::Interrupted(Interrupt::Suspend { status, at })) => {
            let event = if status == RunStatus::Sleeping {
                RunEvent::Slept
            } else {
                RunEvent::WaitStarted
            };
            change(event, None, None, Some(at), attempt)
        }
        Err(FnError::StepFailed { step, message }) => {
            fail(ErrorInfo::new("StepError", format!("step {step:?} failed: {message}")))
        }
        Err(FnError::NonRetriable(message)) => fail(ErrorInfo::new("NonRetriableError", message)),
        Err(FnError::Retryable { message, retry_after }) if attempt < retries => {
            let at = now_ms + backoff.delay_for(attempt, retry_after).as_millis() as i64;
            change(
                RunEvent::RetryScheduled,
                None,
                Some(ErrorInfo::new("Error", message)),
                Some(at),
                attempt + 1,
            )
        }
        Err(FnError::Retryable { message, .. }) => fail(ErrorInfo::new("Error", message)),
        Err(FnError::Store(message)) if attempt < retries => {
            let at = now_ms + backoff.delay_for(attempt, None).as_millis() as i64;
            change(
                RunEvent::RetryScheduled,
                None,
                Some(ErrorInfo::new("StorageError", message)),
                Some(at),
                attempt + 1,
            )
        }
        Err(FnError::Store(message)) => fail(ErrorInfo::new("StorageError", message)),
        // An outage is not the function's failure: pause, then resume with the same attempt number.
        Err(FnError::StoreUnavailable(message)) => change(
            RunEvent::RetryScheduled,
            None,
            Some(ErrorInfo::new("StorageUnavailable", message)),
            Some(now_ms + STORAGE_PAUSE_MS),
            attempt,
        ),
        Err(FnError::Cancelled(message)) => change(
            RunEvent::Cancelled,
            None,
            Some(ErrorInfo::new("Cancelled", message)),
            None,
            attempt,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NOW: i64 = 1_000_000;
    const B: Backoff = Backoff::Fixed(Duration::from_millis(500));

    fn persisted(d: Decision) -> RunChange {
        match d {
            Decision::Persist(c) => c,
            Decision::Abandon => panic!("expected a change"),
        }
    }

    #[test]
    fn success_completes() {
        let c = persisted(decide(Ok(serde_json::json!({"ok": true})), 0, 3, B, NOW, false));
        assert_eq!((c.to, c.event), (RunStatus::Completed, RunEvent::Succeeded));
        assert_eq!(c.output, Some(serde_json::json!({"ok": true})));
    }

    #[test]
    fn step_retry_requeues_at_the_step_time_without_using_a_function_attempt() {
        let c = persisted(decide(
            Err(FnError::Interrupted(Interrupt::RetryAt(NOW + 7))),
            1,
            3,
            B,
            NOW,
            false,
        ));
        assert_eq!((c.to, c.run_at_ms, c.attempt), (RunStatus::Queued, Some(NOW + 7), 1));
    }

    #[test]
    fn function_level_errors_retry_then_fail() {
        let retry = || {
            Err(FnError::Retryable {
                message: "boom".into(),
                retry_after: None,
            })
        };
        let c = persisted(decide(retry(), 0, 2, B, NOW, false));
        assert_eq!((c.to, c.run_at_ms, c.attempt), (RunStatus::Queued, Some(NOW + 500), 1));
        let c = persisted(decide(retry(), 2, 2, B, NOW, false));
        assert_eq!(c.to, RunStatus::Failed);
        assert_eq!(c.error.unwrap().message, "boom");
    }

    #[test]
    fn an_unreachable_store_pauses_without_spending_an_attempt() {
        // Even on the last attempt: the outage is not the function's failure.
        for attempt in [0, 3] {
            let c = persisted(decide(
                Err(FnError::StoreUnavailable("connection refused".into())),
                attempt,
                3,
                B,
                NOW,
                false,
            ));
            assert_eq!((c.to, c.event), (RunStatus::Queued, RunEvent::RetryScheduled));
            assert_eq!(c.attempt, attempt, "no attempt spent");
            assert_eq!(c.run_at_ms, Some(NOW + STORAGE_PAUSE_MS));
            assert_eq!(c.error.unwrap().name, "StorageUnavailable");
        }
        // A store that refuses (bad data) still spends attempts and fails in the end.
        let c = persisted(decide(
            Err(FnError::Store("bad stored data".into())),
            3,
            3,
            B,
            NOW,
            false,
        ));
        assert_eq!(c.to, RunStatus::Failed);
    }

    #[test]
    fn fatal_errors_fail_at_once() {
        let c = persisted(decide(
            Err(FnError::NonRetriable("no user".into())),
            0,
            3,
            B,
            NOW,
            false,
        ));
        assert_eq!(c.to, RunStatus::Failed);
        assert_eq!(c.error.unwrap(), ErrorInfo::new("NonRetriableError", "no user"));
        let c = persisted(decide(
            Err(FnError::StepFailed {
                step: "s".into(),
                message: "m".into(),
            }),
            0,
            3,
            B,
            NOW,
            false,
        ));
        assert_eq!(c.error.unwrap().name, "StepError");
    }

    #[test]
    fn suspensions_sleep_or_wait_until_their_time() {
        let sleep = Interrupt::Suspend {
            status: RunStatus::Sleeping,
            at: NOW + 9,
        };
        let c = persisted(decide(Err(FnError::Interrupted(sleep)), 0, 3, B, NOW, true));
        assert_eq!(
            (c.to, c.event, c.run_at_ms, c.notify),
            (RunStatus::Sleeping, RunEvent::Slept, Some(NOW + 9), false)
        );
        let wait = Interrupt::Suspend {
            status: RunStatus::Waiting,
            at: NOW + 5,
        };
        let c = persisted(decide(Err(FnError::Interrupted(wait)), 0, 3, B, NOW, true));
        assert_eq!((c.to, c.event), (RunStatus::Waiting, RunEvent::WaitStarted));
        let c = persisted(decide(Ok(serde_json::Value::Null), 0, 3, B, NOW, true));
        assert!(c.notify, "a final change carries the notify flag");
    }

    /// Which row of the decision table a handler result falls in. Exhaustive on purpose: a new `FnError` or
    /// `Interrupt` variant fails to compile here until the table below has its row.
    fn kind(r: &Result<serde_json::Value, FnError>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(FnError::Interrupted(i)) => match i {
                Interrupt::RetryAt(_) => "step retry",
                Interrupt::Shutdown => "shutdown",
                Interrupt::LeaseLost => "lease lost",
                Interrupt::Suspend { .. } => "suspend",
            },
            Err(FnError::StepFailed { .. }) => "step failed",
            Err(FnError::NonRetriable(_)) => "non-retriable",
            Err(FnError::Retryable { .. }) => "retryable",
            Err(FnError::Store(_)) => "storage error",
            Err(FnError::StoreUnavailable(_)) => "storage unavailable",
            Err(FnError::Cancelled(_)) => "cancelled",
        }
    }

    /// One row: the result, the attempt that just ran (of `RETRIES`), and what must be persisted — the event, the
    /// run's next `run_at`, the function attempt after the change and the error's name — or `None` (abandon).
    type Row = (
        Result<serde_json::Value, FnError>,
        u32,
        Option<(RunEvent, Option<i64>, u32, Option<&'static str>)>,
    );

    const RETRIES: u32 = 2;

    fn table() -> Vec<Row> {
        use RunEvent as E;
        let retryable = || {
            Err(FnError::Retryable {
                message: "m".into(),
                retry_after: None,
            })
        };
        let store = || Err(FnError::Store("connection refused".into()));
        let suspend = |status, at| Err(FnError::Interrupted(Interrupt::Suspend { status, at }));
        let step_failed = Err(FnError::StepFailed {
            step: "s".into(),
            message: "m".into(),
        });
        vec![
            (Ok(serde_json::json!(1)), 1, Some((E::Succeeded, None, 1, None))),
            (
                Err(FnError::Interrupted(Interrupt::RetryAt(NOW + 7))),
                1,
                Some((E::RetryScheduled, Some(NOW + 7), 1, None)),
            ),
            (
                Err(FnError::Interrupted(Interrupt::Shutdown)),
                1,
                Some((E::Released, Some(NOW), 1, None)),
            ),
            (Err(FnError::Interrupted(Interrupt::LeaseLost)), 1, None),
            (
                suspend(RunStatus::Sleeping, NOW + 9),
                1,
                Some((E::Slept, Some(NOW + 9), 1, None)),
            ),
            (
                suspend(RunStatus::Waiting, NOW + 5),
                1,
                Some((E::WaitStarted, Some(NOW + 5), 1, None)),
            ),
            (step_failed, 0, Some((E::FailedForGood, None, 0, Some("StepError")))),
            (
                Err(FnError::NonRetriable("m".into())),
                0,
                Some((E::FailedForGood, None, 0, Some("NonRetriableError"))),
            ),
            (
                retryable(),
                1,
                Some((E::RetryScheduled, Some(NOW + 500), 2, Some("Error"))),
            ),
            (
                retryable(),
                RETRIES,
                Some((E::FailedForGood, None, RETRIES, Some("Error"))),
            ),
            (
                store(),
                1,
                Some((E::RetryScheduled, Some(NOW + 500), 2, Some("StorageError"))),
            ),
            (
                store(),
                RETRIES,
                Some((E::FailedForGood, None, RETRIES, Some("StorageError"))),
            ),
            (
                Err(FnError::StoreUnavailable("connection refused".into())),
                RETRIES,
                Some((
                    E::RetryScheduled,
                    Some(NOW + STORAGE_PAUSE_MS),
                    RETRIES,
                    Some("StorageUnavailable"),
                )),
            ),
            (
                Err(FnError::Cancelled("timeouts.finish".into())),
                1,
                Some((E::Cancelled, None, 1, Some("Cancelled"))),
            ),
        ]
    }

    #[test]
    fn the_decision_table_covers_every_outcome() {
        let mut kinds = std::collections::BTreeSet::new();
        for (result, attempt, want) in table() {
            kinds.insert(kind(&result));
            for notify in [false, true] {
                let got = decide(result.clone(), attempt, RETRIES, B, NOW, notify);
                let Some((event, run_at, next_attempt, error)) = want else {
                    assert_eq!(got, Decision::Abandon, "{result:?}");
                    continue;
                };
                let c = persisted(got);
                let to = transition(RunStatus::Running, event).unwrap();
                assert_eq!((c.from, c.event, c.to), (RunStatus::Running, event, to), "{result:?}");
                assert_eq!(c.run_at_ms, run_at, "{result:?}");
                assert_eq!(c.attempt, next_attempt, "{result:?}");
                assert_eq!(c.error.as_ref().map(|e| e.name.as_str()), error, "{result:?}");
                assert_eq!(c.output.is_some(), event == RunEvent::Succeeded, "{result:?}");
                // Only a final change tells others (system events, an invoking parent).
                assert_eq!(c.notify, notify && to.is_final(), "{result:?}");
                assert_eq!((c.at_ms, c.resolved_since_ms, c.steps.len()), (NOW, None, 0));
            }
        }
        let all = [
            "ok",
            "step retry",
            "shutdown",
            "lease lost",
            "suspend",
            "step failed",
            "non-retriable",
            "retryable",
            "storage error",
            "storage unavailable",
            "cancelled",
        ];
        assert_eq!(kinds, all.into_iter().collect(), "every kind of result has a row");
    }

    #[test]
    fn shutdown_releases_and_lost_lease_abandons() {
        let c = persisted(decide(
            Err(FnError::Interrupted(Interrupt::Shutdown)),
            0,
            3,
            B,
            NOW,
            false,
        ));
        assert_eq!(
            (c.to, c.event, c.run_at_ms),
            (RunStatus::Queued, RunEvent::Released, Some(NOW))
        );
        assert_eq!(
            decide(Err(FnError::Interrupted(Interrupt::LeaseLost)), 0, 3, B, NOW, false),
            Decision::Abandon
        );
    }
}
