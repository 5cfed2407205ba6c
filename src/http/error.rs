//! API errors: every failure is JSON `{"ids": [], "status": <code>, "error": "<message>"}` — the event API's
//! shape (Inngest's SDK reads `ids` and `error`), used for every route so clients parse one shape. Internal
//! details are logged, not returned. Database errors worth retrying answer 503, others 500.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Event key not found")]
    Unauthorized,
    /// A webhook whose credentials are missing or wrong (401).
    #[error("{0}")]
    NotAuthenticated(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unavailable(String),
    /// Admission control: too much in flight (503 with `Retry-After`).
    #[error("{0}")]
    Overloaded(String),
    /// Too many of one kind of request from clients (429 with `Retry-After`).
    #[error("{0}")]
    TooManyRequests(String),
    /// A `Host` this daemon does not answer for (421).
    #[error("{0}")]
    Misdirected(String),
    /// A JSON route called with another content type (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("internal error")]
    Internal(String),
}

/// `Retry-After` on 503 and 429 answers, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

impl ApiError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> Self {
        if e.is_refused_value() {
            tracing::warn!(error = %e, "the database refused a value");
            ApiError::BadRequest(format!("a value cannot be stored: {e}"))
        } else if let crate::store::Error::CommitInDoubt(_) = e {
            // Not "nothing was stored": the same ids on the retry make a recorded duplicate if it was.
            ApiError::Unavailable(format!("{e}; retry with the same event ids"))
        } else if e.is_retryable() {
            tracing::warn!(error = %e, "database unavailable");
            ApiError::Unavailable("the database is unavailable; retry".into())
        } else {
            ApiError::Internal(e.to_string())
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::NotAuthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) | ApiError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Misdirected(_) => StatusCode::MISDIRECTED_REQUEST,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(detail) = self {
            tracing::error!(error = %detail, "request failed");
        }
        let status = self.status_code();
        let mut answer = HttpResponse::build(status);
        // Every "try again" answer says when: producers (Inngest's SDKs, Stripe) back off on it.
        if matches!(status, StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS) {
            answer.insert_header((actix_web::http::header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
        }
        answer.json(json!({"ids": [], "status": status.as_u16(), "error": self.to_string()}))
    }
}
