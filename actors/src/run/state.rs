//! The run and step lifecycles: closed enums and pure transition functions. No I/O here.
//!
//! The store persists a transition only through these functions: it computes the target state here and writes it
//! with a guarded UPDATE (`WHERE status = <from> AND lease_token = <token>`). The diagram in
//! `docs/state_machine.md` is checked against [`RunStatus::edges`] by a test.

use serde::{Deserialize, Serialize};

/// Where a run is in its life. Stored as text; values are forever (never rename or reuse one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting in the database for a worker: new, or waiting out a retry backoff (`run_at` in the future).
    Queued,
    /// Claimed by a worker holding the lease token.
    Running,
    /// Suspended in `step.sleep` until `run_at`: holds no worker, no slot, no memory.
    Sleeping,
    /// Suspended in `step.wait_for_event` or `step.invoke` until its event (or child) arrives, or `run_at` (the
    /// timeout) comes.
    Waiting,
    /// Finished with an output. Final.
    Completed,
    /// Finished with an error. Final.
    Failed,
    /// Stopped by the cancel API, a `cancel_on` event or a timeout; never runs another step. Final.
    Cancelled,
}

/// What can happen to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunEvent {
    /// A worker claimed a run that is due: queued, or sleeping/waiting whose `run_at` (wake-up or timeout) came.
    Claimed,
    /// A worker claimed a running run whose owner stopped heartbeating (crash); the lease token moves on.
    Rescued,
    /// The handler returned an output.
    Succeeded,
    /// The handler failed for good (fatal error, failed step, or retries exhausted).
    FailedForGood,
    /// A step or the function will be retried later; the run waits in the queue until then.
    RetryScheduled,
    /// The worker handed the run back (graceful shutdown, or its node restarted).
    Released,
    /// The handler reached a `sleep` step: the run sleeps until its end.
    Slept,
    /// The handler reached a `wait_for_event` or `invoke` step that has not resolved yet.
    WaitStarted,
    /// The awaited event arrived (or the invoked child finished): the waiting run is due now.
    Resumed,
    /// Cancelled by the API, a `cancel_on` event or a timeout.
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Sleeping,
        RunStatus::Waiting,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Sleeping => "sleeping",
            RunStatus::Waiting => "waiting",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled)
    }

    /// Suspended states: the run waits in the database for `run_at` (or an event).
    pub fn is_suspended(self) -> bool {
        matches!(self, RunStatus::Sleeping | RunStatus::Waiting)
    }

    /// Every allowed edge, for docs and tests.
    pub fn edges() -> Vec<(RunStatus, RunEvent, RunStatus)> {
        let mut out = Vec::new();
        for from in RunStatus::ALL {
            for ev in RunEvent::ALL {
                if let Ok(to) = transition(from, ev) {
                    out.push((from, ev, to));
                }
            }
        }
        out
    }
}

impl RunEvent {
    pub const ALL: [RunEvent; 10] = [
        RunEvent::Claimed,
        RunEvent::Rescued,
        RunEvent::Succeeded,
        RunEvent::FailedForGood,
        RunEvent::RetryScheduled,
        RunEvent::Released,
        RunEvent::Slept,
        RunEvent::WaitStarted,
        RunEvent::Resumed,
        RunEvent::Cancelled,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid run transition: {event:?} in state {from:?}")]
pub struct InvalidTransition {
    pub from: RunStatus,
    pub event: RunEvent,
}

/// The run lifecycle, one arm per edge.
pub fn transition(from: RunStatus, event: RunEvent) -> Result<RunStatus, InvalidTransition> {
    use RunEvent as E;
    use RunStatus as S;
    match (from, event) {
        (S::Queued | S::Sleeping | S::Waiting, E::Claimed) => Ok(S::Running),
        (S::Running, E::Rescued) => Ok(S::Running),
        (S::Running, E::Succeeded) => Ok(S::Completed),
        (S::Running, E::FailedForGood) => Ok(S::Failed),
        (S::Running, E::RetryScheduled) => Ok(S::Queued),
        (S::Running, E::Released) => Ok(S::Queued),
        (S::Running, E::Slept) => Ok(S::Sleeping),
        (S::Running, E::WaitStarted) => Ok(S::Waiting),
        (S::Waiting, E::Resumed) => Ok(S::Queued),
        (S::Queued | S::Running | S::Sleeping | S::Waiting, E::Cancelled) => Ok(S::Cancelled),
        _ => Err(InvalidTransition { from, event }),
    }
}

/// The status of one persisted step attempt. Stored as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// A sleep, wait_for_event or invoke step that has started and not resolved yet (`wake_at` is its end or
    /// timeout).
    Waiting,
    /// Not attempted yet, or its attempt was interrupted by a crash before finishing (nothing persisted).
    Pending,
    /// The attempt returned a value. Final: the step never runs again.
    Completed,
    /// The attempt failed and the step will be retried.
    Errored,
    /// The attempt failed and the step will not be retried. Final.
    Failed,
}

/// What an attempt of a step's code produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepEvent {
    Succeeded,
    /// A retryable error with retries left.
    ErroredWithRetriesLeft,
    /// A retryable error on the last allowed attempt.
    ErroredOnLastAttempt,
    /// A fatal (non-retriable) error — or, for a waiting step, an invoked child that failed or timed out.
    FatalError,
    /// A sleep, wait or invoke began: the step waits.
    Suspended,
    /// The sleep ended, the event arrived (or the wait timed out: resolved with none), the child returned.
    Resolved,
}

impl StepStatus {
    pub const ALL: [StepStatus; 5] = [
        StepStatus::Waiting,
        StepStatus::Pending,
        StepStatus::Completed,
        StepStatus::Errored,
        StepStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Waiting => "waiting",
            StepStatus::Pending => "pending",
            StepStatus::Completed => "completed",
            StepStatus::Errored => "errored",
            StepStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<StepStatus> {
        StepStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl StepEvent {
    pub const ALL: [StepEvent; 6] = [
        StepEvent::Succeeded,
        StepEvent::ErroredWithRetriesLeft,
        StepEvent::ErroredOnLastAttempt,
        StepEvent::FatalError,
        StepEvent::Suspended,
        StepEvent::Resolved,
    ];

    /// Classifies an attempt's result: `attempt` is 0-based, `retries` the number allowed after the first.
    pub fn classify(ok: bool, retryable: bool, attempt: u32, retries: u32) -> StepEvent {
        match (ok, retryable) {
            (true, _) => StepEvent::Succeeded,
            (false, false) => StepEvent::FatalError,
            (false, true) if attempt < retries => StepEvent::ErroredWithRetriesLeft,
            (false, true) => StepEvent::ErroredOnLastAttempt,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid step transition: {event:?} in state {from:?}")]
pub struct InvalidStepTransition {
    pub from: StepStatus,
    pub event: StepEvent,
}

/// The step lifecycle: an attempt may start from `Pending` or `Errored`; a sleep/wait/invoke goes `Pending` →
/// `Waiting` → `Completed` (or `Failed` for an invoke whose child failed); `Completed` and `Failed` are final.
pub fn step_transition(from: StepStatus, event: StepEvent) -> Result<StepStatus, InvalidStepTransition> {
    use StepEvent as E;
    use StepStatus as S;
    match (from, event) {
        (S::Pending | S::Errored, E::Succeeded) => Ok(S::Completed),
        (S::Pending | S::Errored, E::ErroredWithRetriesLeft) => Ok(S::Errored),
        (S::Pending | S::Errored, E::ErroredOnLastAttempt | E::FatalError) => Ok(S::Failed),
        (S::Pending, E::Suspended) => Ok(S::Waiting),
        (S::Waiting, E::Resolved) => Ok(S::Completed),
        (S::Waiting, E::FatalError) => Ok(S::Failed),
        _ => Err(InvalidStepTransition { from, event }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_state_event_pair() {
        use RunEvent as E;
        use RunStatus as S;
        let expected: &[(S, E, Option<S>)] = &[
            (S::Queued, E::Claimed, Some(S::Running)),
            (S::Queued, E::Rescued, None),
            (S::Queued, E::Succeeded, None),
            (S::Queued, E::FailedForGood, None),
            (S::Queued, E::RetryScheduled, None),
            (S::Queued, E::Released, None),
            (S::Running, E::Claimed, None),
            (S::Running, E::Rescued, Some(S::Running)),
            (S::Running, E::Succeeded, Some(S::Completed)),
            (S::Running, E::FailedForGood, Some(S::Failed)),
            (S::Running, E::RetryScheduled, Some(S::Queued)),
            (S::Running, E::Released, Some(S::Queued)),
            (S::Running, E::Slept, Some(S::Sleeping)),
            (S::Running, E::WaitStarted, Some(S::Waiting)),
            (S::Running, E::Resumed, None),
            (S::Running, E::Cancelled, Some(S::Cancelled)),
            (S::Queued, E::Slept, None),
            (S::Queued, E::WaitStarted, None),
            (S::Queued, E::Resumed, None),
            (S::Queued, E::Cancelled, Some(S::Cancelled)),
            (S::Sleeping, E::Claimed, Some(S::Running)),
            (S::Sleeping, E::Cancelled, Some(S::Cancelled)),
            (S::Waiting, E::Claimed, Some(S::Running)),
            (S::Waiting, E::Resumed, Some(S::Queued)),
            (S::Waiting, E::Cancelled, Some(S::Cancelled)),
        ];
        let mut checked = 0;
        for from in S::ALL {
            for ev in E::ALL {
                let want = if from.is_final() {
                    None
                } else {
                    expected
                        .iter()
                        .find(|(f, e, _)| *f == from && *e == ev)
                        .and_then(|p| p.2)
                };
                assert_eq!(transition(from, ev).ok(), want, "{from:?} + {ev:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, S::ALL.len() * E::ALL.len());
    }

    #[test]
    fn every_step_state_event_pair() {
        use StepEvent as E;
        use StepStatus as S;
        for from in S::ALL {
            for ev in E::ALL {
                let want = match (from, ev) {
                    (S::Completed | S::Failed, _) => None,
                    (S::Waiting, E::Resolved) => Some(S::Completed),
                    (S::Waiting, E::FatalError) => Some(S::Failed),
                    (S::Waiting, _) => None,
                    (S::Pending, E::Suspended) => Some(S::Waiting),
                    (_, E::Suspended | E::Resolved) => None,
                    (_, E::Succeeded) => Some(S::Completed),
                    (_, E::ErroredWithRetriesLeft) => Some(S::Errored),
                    (_, E::ErroredOnLastAttempt | E::FatalError) => Some(S::Failed),
                };
                assert_eq!(step_transition(from, ev).ok(), want, "{from:?} + {ev:?}");
            }
        }
    }

    #[test]
    fn classify_attempts() {
        assert_eq!(StepEvent::classify(true, false, 9, 0), StepEvent::Succeeded);
        assert_eq!(StepEvent::classify(false, false, 0, 3), StepEvent::FatalError);
        assert_eq!(
            StepEvent::classify(false, true, 2, 3),
            StepEvent::ErroredWithRetriesLeft
        );
        assert_eq!(StepEvent::classify(false, true, 3, 3), StepEvent::ErroredOnLastAttempt);
        assert_eq!(StepEvent::classify(false, true, 0, 0), StepEvent::ErroredOnLastAttempt);
    }

    #[test]
    fn status_text_round_trips() {
        for s in RunStatus::ALL {
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
        }
        for s in StepStatus::ALL {
            assert_eq!(StepStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(RunStatus::parse("asleep"), None);
    }

    #[test]
    fn diagram_in_docs_matches_the_code() {
        let doc = include_str!("../../../docs/state_machine.md");
        let mut want: Vec<String> = RunStatus::edges()
            .into_iter()
            .map(|(from, ev, to)| format!("{} --> |{:?}| {}", from.as_str(), ev, to.as_str()))
            .collect();
        for from in StepStatus::ALL {
            for ev in StepEvent::ALL {
                if let Ok(to) = step_transition(from, ev) {
                    want.push(format!("step_{} --> |{:?}| step_{}", from.as_str(), ev, to.as_str()));
                }
            }
        }
        let mut have: Vec<String> = doc
            .lines()
            .map(str::trim)
            .filter(|l| l.contains(" --> |"))
            .map(str::to_string)
            .collect();
        want.sort();
        have.sort();
        assert_eq!(
            have, want,
            "docs/state_machine.md must list exactly the edges of the code"
        );
    }
}
