//! The clients against local fake servers (wiremock) that answer like the real APIs, including their rate-limit and
//! error answers. Each client file checks: success (the exact request), 429 with Retry-After, 5xx then success,
//! 4xx (fatal, with the service's message), malformed JSON, timeout, and "not configured".

mod config;
mod convertkit;
mod discord;
mod dry_run;
mod google_calendar;
mod media;
mod partykit; // PartyKit (issue 12, video pipeline)
mod slack;
mod snooze;
mod stripe;
mod token_bucket;
// Content and AI (helper F).
mod aws;
mod content_ai;

use ingot::integrations::config::IntegrationsConfig;
use ingot::integrations::http::HttpService;
use ingot_actors::StepError;
use ingot_actors::service::{RateSpec, Service, ServiceError, ServiceOptions};
use std::collections::BTreeMap;
use std::time::Duration;
use wiremock::MockServer;

/// The call timeout every client test uses; the "timeout" fakes answer slower than this.
pub const TIMEOUT: Duration = Duration::from_millis(300);

/// Integration settings from `ENV_NAME → value` pairs (defaults for the rest).
pub fn settings(pairs: &[(&str, &str)]) -> IntegrationsConfig {
    let values: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    IntegrationsConfig::from_values(&values).expect("valid settings")
}

/// A service actor and HTTP layer pointed at the fake, fast and short-timed for tests.
pub fn http(name: &str, base: &str) -> HttpService {
    http_with(name, base, RateSpec::per_second(1000), TIMEOUT)
}

pub fn http_with(name: &str, base: &str, rate: RateSpec, timeout: Duration) -> HttpService {
    let service = Service::start(
        ServiceOptions {
            rate,
            timeout,
            mailbox: 256,
            concurrency: 16,
            ..ServiceOptions::new(name)
        },
        true,
    );
    HttpService::new(service, base, None)
}

/// The error must be a retryable 429 asking for exactly `secs`, and become a step error carrying it.
pub fn assert_rate_limited(e: ServiceError, secs: u64) {
    assert!(e.is_rate_limited(), "{e:?}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(secs)), "{e:?}");
    match StepError::from(e) {
        StepError::Retryable { retry_after, .. } => assert_eq!(retry_after, Some(Duration::from_secs(secs))),
        other => panic!("not retryable: {other:?}"),
    }
}

pub fn assert_unavailable(e: ServiceError) {
    assert!(matches!(e, ServiceError::Unavailable { .. }), "{e:?}");
    assert!(StepError::from(e).is_retryable());
}

/// A fatal rejection carrying the service's own message.
pub fn assert_rejected(e: ServiceError, status: u16, message: &str) {
    assert_eq!(e.status(), Some(status), "{e:?}");
    let step = StepError::from(e);
    assert!(!step.is_retryable(), "{step:?}");
    assert!(step.message().contains(message), "{step:?}");
}

pub fn assert_bad_response(e: ServiceError) {
    assert!(matches!(e, ServiceError::BadResponse { .. }), "{e:?}");
    assert!(StepError::from(e).is_retryable());
}

pub fn assert_timeout(e: ServiceError) {
    assert!(matches!(e, ServiceError::Timeout { .. }), "{e:?}");
    assert!(StepError::from(e).is_retryable());
}

pub fn assert_not_configured(e: ServiceError, names: &[&str]) {
    let step = StepError::from(e.clone());
    assert!(
        matches!(e, ServiceError::NotConfigured { .. }) && !step.is_retryable(),
        "{e:?}"
    );
    for n in names {
        assert!(step.message().contains(n), "{step:?} should name {n}");
    }
}

/// A fake server for one test.
pub async fn fake() -> MockServer {
    MockServer::start().await
}

/// A response slower than [`TIMEOUT`].
pub fn slow(body: serde_json::Value) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(200)
        .set_body_json(body)
        .set_delay(TIMEOUT * 4)
}
