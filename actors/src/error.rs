//! Errors a function produces, classified explicitly as retryable or fatal.
//!
//! - [`StepError`] is what the code inside a `step.run` returns: [`StepError::Retryable`] (optionally with the time
//!   the service asked us to wait, e.g. from `Retry-After`) or [`StepError::Fatal`] (Inngest's `NonRetriableError`).
//! - [`FnError`] is what a handler returns. Step tools produce [`FnError::Interrupted`] when the run has to stop
//!   and resume later; handlers just propagate it with `?`.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The outcome of one failed attempt of a step's code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    /// Worth trying again: network errors, 5xx, 429, a database hiccup.
    #[error("{message}")]
    Retryable {
        message: String,
        /// When the service asked to be retried (clamped to 1 s – 24 h); `None` uses the backoff table.
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help: missing data, invalid state, a 4xx from a service.
    #[error("{message}")]
    Fatal { message: String },
}

impl StepError {
    pub fn retryable(message: impl Into<String>) -> Self {
        StepError::Retryable {
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn retry_after(message: impl Into<String>, after: Duration) -> Self {
        StepError::Retryable {
            message: message.into(),
            retry_after: Some(after),
        }
    }
    pub fn fatal(message: impl Into<String>) -> Self {
        StepError::Fatal {
            message: message.into(),
        }
    }
    pub fn message(&self) -> &str {
        match self {
            StepError::Retryable { message, .. } | StepError::Fatal { message } => message,
        }
    }
    pub fn is_retryable(&self) -> bool {
        matches!(self, StepError::Retryable { .. })
    }
}

/// Classifies any error at the call site: `query.await.retryable()?` or `parse(x).fatal()?`.
pub trait ResultExt<T> {
    fn retryable(self) -> Result<T, StepError>;
    fn fatal(self) -> Result<T, StepError>;
}

impl<T, E: std::fmt::Display> ResultExt<T> for Result<T, E> {
    fn retryable(self) -> Result<T, StepError> {
        self.map_err(|e| StepError::retryable(e.to_string()))
    }
    fn fatal(self) -> Result<T, StepError> {
        self.map_err(|e| StepError::fatal(e.to_string()))
    }
}

/// Why a run stopped early without finishing. Not an error of the function: the run resumes later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// A step failed and will be retried at this time (ms since epoch).
    RetryAt(i64),
    /// The daemon is shutting down; the run is handed back to the queue between steps.
    Shutdown,
    /// Another worker owns the run now (our lease was fenced off, or the run was cancelled); stop without writing.
    LeaseLost,
    /// A sleep, wait_for_event or invoke step is waiting: the run suspends (`Sleeping` or `Waiting`) until `at`
    /// (ms since epoch) — the sleep's end or the wait's timeout — unless an event resumes it earlier.
    Suspend {
        status: crate::run::state::RunStatus,
        at: i64,
    },
}

/// What a function handler returns on failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FnError {
    /// The run must stop now and resume later; produced by step tools, propagated with `?`.
    #[error("run interrupted: {0:?}")]
    Interrupted(Interrupt),
    /// A step failed for good (fatal error or retries exhausted): the run fails without further retries.
    #[error("step {step:?} failed: {message}")]
    StepFailed { step: String, message: String },
    /// Code outside any step failed and retrying cannot help.
    #[error("{0}")]
    NonRetriable(String),
    /// Code outside any step failed; the whole function is retried (completed steps stay memoized).
    #[error("{message}")]
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The store refused to persist progress (bad stored data, a value it cannot hold); the run is retried
    /// like any function-level error.
    #[error("storage error: {0}")]
    Store(String),
    /// The store could not be reached: the run pauses and resumes later without spending an attempt (an outage
    /// is not the function's failure).
    #[error("storage unavailable: {0}")]
    StoreUnavailable(String),
    /// The run must stop for good without running another step (`timeouts.start` / `timeouts.finish`).
    #[error("cancelled: {0}")]
    Cancelled(String),
}

impl From<StepError> for FnError {
    fn from(e: StepError) -> Self {
        match e {
            StepError::Retryable { message, retry_after } => FnError::Retryable { message, retry_after },
            StepError::Fatal { message } => FnError::NonRetriable(message),
        }
    }
}

/// An error as persisted and shown in the API: `{name, message}` like Inngest's serialized errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub name: String,
    pub message: String,
}

impl ErrorInfo {
    pub fn new(name: &str, message: impl Into<String>) -> Self {
        ErrorInfo {
            name: name.to_string(),
            message: message.into(),
        }
    }

    pub fn from_step(e: &StepError) -> Self {
        match e {
            StepError::Retryable { message, .. } => ErrorInfo::new("Error", message.clone()),
            StepError::Fatal { message } => ErrorInfo::new("NonRetriableError", message.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_ext_classifies_at_the_call_site() {
        let r: Result<(), &str> = Err("boom");
        assert_eq!(r.retryable(), Err(StepError::retryable("boom")));
        assert_eq!(r.fatal(), Err(StepError::fatal("boom")));
    }

    #[test]
    fn step_errors_outside_steps_keep_their_class() {
        assert!(matches!(FnError::from(StepError::fatal("x")), FnError::NonRetriable(_)));
        assert!(matches!(
            FnError::from(StepError::retryable("x")),
            FnError::Retryable { .. }
        ));
    }
}
