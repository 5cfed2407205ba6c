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
    /// Finished with an output. Final.
    Completed,
    /// Finished with an error. Final.
    Failed,
}

/// What can happen to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunEvent {
    /// A worker claimed a queued run that is due.
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
}

impl RunStatus {
    pub const ALL: [RunStatus; 4] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Completed,
        RunStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Failed)
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
    pub const ALL: [RunEvent; 6] = [
        RunEvent::Claimed,
        RunEvent::Rescued,
        RunEvent::Succeeded,
        RunEvent::FailedForGood,
        RunEvent::RetryScheduled,
        RunEvent::Released,
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
        (S::Queued, E::Claimed) => Ok(S::Running),
        (S::Running, E::Rescued) => Ok(S::Running),
        (S::Running, E::Succeeded) => Ok(S::Completed),
        (S::Running, E::FailedForGood) => Ok(S::Failed),
        (S::Running, E::RetryScheduled) => Ok(S::Queued),
        (S::Running, E::Released) => Ok(S::Queued),
        _ => Err(InvalidTransition { from, event }),
    }
}

/// The status of one persisted step attempt. Stored as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
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
    /// A fatal (non-retriable) error.
    FatalError,
}

impl StepStatus {
    pub const ALL: [StepStatus; 4] = [
        StepStatus::Pending,
        StepStatus::Completed,
        StepStatus::Errored,
        StepStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
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
    pub const ALL: [StepEvent; 4] = [
        StepEvent::Succeeded,
        StepEvent::ErroredWithRetriesLeft,
        StepEvent::ErroredOnLastAttempt,
        StepEvent::FatalError,
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

/// The step lifecycle: an attempt may start from `Pending` or `Errored`; `Completed` and `Failed` are final.
pub fn step_transition(from: StepStatus, event: StepEvent) -> Result<StepStatus, InvalidStepTransition> {
    use StepEvent as E;
    use StepStatus as S;
    match (from, event) {
        (S::Pending | S::Errored, E::Succeeded) => Ok(S::Completed),
        (S::Pending | S::Errored, E::ErroredWithRetriesLeft) => Ok(S::Errored),
        (S::Pending | S::Errored, E::ErroredOnLastAttempt | E::FatalError) => Ok(S::Failed),
        (S::Completed | S::Failed, _) => Err(InvalidStepTransition { from, event }),
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
                        .expect("pair listed")
                        .2
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
        assert_eq!(RunStatus::parse("sleeping"), None);
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
