//! What a call to an external service can fail with, classified for the step engine.

use crate::error::StepError;
use std::time::Duration;

/// A failed service call. [`ServiceError::is_retryable`] decides how a step treats it; `From<ServiceError> for
/// StepError` carries the wait the service asked for. Messages never contain credentials.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServiceError {
    /// The service has no credentials: a step needing it fails for good, naming the settings to set.
    #[error("{service} is not configured: set {}", missing.join(", "))]
    NotConfigured { service: String, missing: Vec<String> },
    /// The actor's mailbox is full.
    #[error("{service} is busy ({queued} calls queued); retry later")]
    Busy { service: String, queued: usize },
    /// 429, or a rate-limit bucket the service reported as exhausted.
    #[error("{service} rate limited: {message} (retry in {}ms)", retry_after.as_millis())]
    RateLimited {
        service: String,
        message: String,
        retry_after: Duration,
    },
    /// Network error, 5xx, or 503 (with the service's `Retry-After` when it sent one).
    #[error("{service} unavailable: {message}")]
    Unavailable {
        service: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The call took longer than the service's timeout.
    #[error("{service} did not answer within {}ms", after.as_millis())]
    Timeout { service: String, after: Duration },
    /// A 4xx other than 429: retrying the same request cannot help.
    #[error("{service} rejected the request (HTTP {status}): {message}")]
    Rejected {
        service: String,
        status: u16,
        message: String,
    },
    /// A 2xx whose body is not what the API documents (malformed JSON, missing fields). Retryable: a truncated
    /// answer from a proxy is the usual cause.
    #[error("{service} sent an unexpected answer: {message}")]
    BadResponse { service: String, message: String },
    /// Our side cannot build the request (bad input, a template that does not render): fatal.
    #[error("{service}: {message}")]
    Invalid { service: String, message: String },
    /// The actor stopped (the daemon is shutting down).
    #[error("{service} is stopped")]
    Stopped { service: String },
}

impl ServiceError {
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            ServiceError::NotConfigured { .. } | ServiceError::Rejected { .. } | ServiceError::Invalid { .. }
        )
    }

    /// The wait the service (or our limiter) asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ServiceError::RateLimited { retry_after, .. } => Some(*retry_after),
            ServiceError::Unavailable { retry_after, .. } => *retry_after,
            ServiceError::Busy { .. } => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// The HTTP status a service answered with, when the error is a rejection.
    pub fn status(&self) -> Option<u16> {
        match self {
            ServiceError::Rejected { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_rate_limited(&self) -> bool {
        matches!(self, ServiceError::RateLimited { .. })
    }
}

impl From<ServiceError> for StepError {
    fn from(e: ServiceError) -> Self {
        let message = e.to_string();
        if !e.is_retryable() {
            return StepError::fatal(message);
        }
        match e.retry_after() {
            Some(after) => StepError::retry_after(message, after),
            None => StepError::retryable(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let s = || "discord".to_string();
        let rl = ServiceError::RateLimited {
            service: s(),
            message: "429".into(),
            retry_after: Duration::from_secs(3),
        };
        assert_eq!(
            StepError::from(rl).clone(),
            StepError::retry_after("discord rate limited: 429 (retry in 3000ms)", Duration::from_secs(3))
        );
        let rej = ServiceError::Rejected {
            service: s(),
            status: 404,
            message: "Unknown Member".into(),
        };
        assert_eq!(
            StepError::from(rej),
            StepError::fatal("discord rejected the request (HTTP 404): Unknown Member")
        );
        let nc = ServiceError::NotConfigured {
            service: s(),
            missing: vec!["DISCORD_BOT_TOKEN".into(), "DISCORD_GUILD_ID".into()],
        };
        let step = StepError::from(nc);
        assert!(!step.is_retryable() && step.message().contains("DISCORD_BOT_TOKEN, DISCORD_GUILD_ID"));
        let t = ServiceError::Timeout {
            service: s(),
            after: Duration::from_secs(1),
        };
        assert_eq!(
            StepError::from(t),
            StepError::retryable("discord did not answer within 1000ms")
        );
        let bad = ServiceError::BadResponse {
            service: s(),
            message: "x".into(),
        };
        assert!(StepError::from(bad).is_retryable());
    }
}
