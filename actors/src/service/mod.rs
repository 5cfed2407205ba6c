//! Shared service actors: one per external service (Discord, Stripe, SMTP, ...), owning its client, credentials and
//! limits. Callers hold a cheap, cloneable [`Service`] handle and `await` typed calls; they never see the actor's
//! mailbox or messages.
//!
//! - The mailbox is bounded: when it is full a call fails at once with [`ServiceError::Busy`] (retryable), never
//!   an unbounded queue.
//! - A token bucket per service (and, optionally, per route) paces calls; routes a service reported as exhausted
//!   (Discord's `X-RateLimit-*` buckets, a global 429) fail fast with the time to retry instead of calling.
//! - Every call is bounded by a timeout.
//! - A 429/503 with `Retry-After`, network errors, timeouts and other 5xx become [`ServiceError`]s that convert to
//!   a retryable [`crate::StepError`] carrying the time to retry, so the run snoozes durably in the database instead
//!   of the actor sleeping; other 4xx are fatal with the service's message.
//! - [`ServiceStats`] (queue depth, calls, 429s, last error) for `/health`; no credentials ever reach them.

mod actor;
mod error;
mod limits;
mod retry_after;

pub use actor::{MAILBOX, Service, ServiceOptions, ServiceStats};
pub use error::ServiceError;
pub use limits::RateSpec;
pub use retry_after::parse_retry_after;
