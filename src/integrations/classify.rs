//! How an answer (or a failure to get one) becomes a [`ServiceError`]: 2xx is fine; 429 is rate limited with the
//! service's `Retry-After` (or Discord's body `retry_after`, default 5 s); 503 is unavailable with `Retry-After`;
//! other 5xx, 408 and network errors are unavailable; a timeout is a timeout; other 4xx are rejected with the
//! service's own message. Messages never contain URLs (query strings may hold secrets).

use ingot_actors::service::{ServiceError, parse_retry_after};
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// Wait for a 429 that names no time.
pub const DEFAULT_429_WAIT: Duration = Duration::from_secs(5);

pub fn transport_error(service: &str, timeout: Duration, e: reqwest::Error) -> ServiceError {
    if e.is_timeout() {
        return ServiceError::Timeout {
            service: service.into(),
            after: timeout,
        };
    }
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    ServiceError::Unavailable {
        service: service.into(),
        message,
        retry_after: None,
    }
}

/// `Retry-After`, else a JSON body's `retry_after` seconds (Discord), else `X-RateLimit-Reset-After`.
pub fn retry_after(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    let now = SystemTime::now();
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now))
    };
    header("retry-after")
        .or_else(|| {
            serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v["retry_after"].as_f64())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
        })
        .or_else(|| header("x-ratelimit-reset-after"))
}

/// Maps a non-2xx answer to its error.
pub fn classify(service: &str, status: u16, headers: &HeaderMap, body: &[u8]) -> Result<(), ServiceError> {
    let service = service.to_string();
    match status {
        200..=299 => Ok(()),
        429 => Err(ServiceError::RateLimited {
            service,
            message: error_message(status, body),
            retry_after: retry_after(headers, body).unwrap_or(DEFAULT_429_WAIT),
        }),
        408 | 500..=599 => Err(ServiceError::Unavailable {
            service,
            message: error_message(status, body),
            retry_after: if status == 503 {
                retry_after(headers, body)
            } else {
                None
            },
        }),
        _ => Err(ServiceError::Rejected {
            service,
            status,
            message: error_message(status, body),
        }),
    }
}

/// The service's own words: `message`, `error.message`, `error` (string), `errors[0]`..., or the body's text.
pub fn error_message(status: u16, body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let candidates = [
            &v["error"]["message"],
            &v["message"],
            &v["error_description"],
            &v["error"],
            &v["errors"][0]["message"],
            &v["errors"][0],
            &v["err_msg"],
        ];
        if let Some(s) = candidates.iter().find_map(|c| c.as_str()).filter(|s| !s.is_empty()) {
            return truncate(s);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        format!("HTTP {status}")
    } else {
        truncate(text)
    }
}

fn truncate(s: &str) -> String {
    const MAX: usize = 300;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_from_the_service() {
        assert_eq!(
            error_message(404, br#"{"message": "Unknown Member", "code": 10007}"#),
            "Unknown Member"
        );
        assert_eq!(
            error_message(400, br#"{"error": {"message": "No such session", "type": "x"}}"#),
            "No such session"
        );
        assert_eq!(
            error_message(401, br#"{"error": "Authorization Failed"}"#),
            "Authorization Failed"
        );
        assert_eq!(error_message(500, b""), "HTTP 500");
        assert_eq!(error_message(502, b"bad gateway"), "bad gateway");
    }

    #[test]
    fn statuses() {
        let h = HeaderMap::new();
        assert!(classify("s", 204, &h, b"").is_ok());
        assert_eq!(
            classify("s", 429, &h, b"").unwrap_err().retry_after(),
            Some(DEFAULT_429_WAIT)
        );
        assert_eq!(
            classify("s", 429, &h, br#"{"retry_after": 1.5}"#)
                .unwrap_err()
                .retry_after(),
            Some(Duration::from_millis(1500))
        );
        assert!(classify("s", 408, &h, b"").unwrap_err().is_retryable());
        assert!(!classify("s", 422, &h, b"").unwrap_err().is_retryable());
    }
}
