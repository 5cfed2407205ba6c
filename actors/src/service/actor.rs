//! The service actor: a task owning a bounded mailbox, the service's limits and its counters; [`Service`] is the
//! cloneable handle callers use.
//!
//! The actor takes one message at a time: it fails fast if the service reported the route (or everything) as
//! exhausted, waits for the service's token bucket, then runs the call concurrently (at most
//! `concurrency` at once) under the call timeout. Waiting for a token is the only waiting the actor does; a
//! service's `Retry-After` is handed back to the caller as an error so the run snoozes in the database.

use super::error::ServiceError;
use super::limits::{Limits, RateSpec};
use futures_util::future::BoxFuture;
use serde::Serialize;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// A service's mailbox capacity (the default of [`ServiceOptions::mailbox`] and of `INGOT_SERVICE_MAILBOX`): larger
/// than a function's pool ([`crate::pool::MAX_RUNS_PER_FUNCTION`]), so one function's runs cannot fill it alone.
pub const MAILBOX: usize = 1024;

/// How one service actor is sized.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    pub name: String,
    pub rate: RateSpec,
    pub per_route: Option<RateSpec>,
    pub mailbox: usize,
    pub concurrency: usize,
    pub timeout: Duration,
}

impl ServiceOptions {
    pub fn new(name: impl Into<String>) -> ServiceOptions {
        ServiceOptions {
            name: name.into(),
            rate: RateSpec::per_second(10),
            per_route: None,
            mailbox: MAILBOX,
            concurrency: 8,
            timeout: Duration::from_secs(30),
        }
    }
}

/// A service's figures, for `/health` and the logs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ServiceStats {
    pub name: String,
    pub configured: bool,
    pub mailbox_capacity: usize,
    pub queued: usize,
    pub in_flight: usize,
    pub calls: u64,
    pub failures: u64,
    /// Calls the service answered with 429.
    pub rate_limited: u64,
    /// Calls refused without calling because the service had reported the bucket exhausted.
    pub held_back: u64,
    /// Calls refused because the mailbox was full.
    pub busy: u64,
    pub last_error: Option<String>,
    pub last_error_at_ms: Option<i64>,
}

/// A call: given `Some(error)` it only answers the caller with it (refused before calling); given `None` it runs,
/// counts the outcome, then answers.
type Job = Box<dyn FnOnce(Option<ServiceError>) -> BoxFuture<'static, ()> + Send>;

struct Envelope {
    route: Option<String>,
    job: Job,
}

struct Shared {
    opts: ServiceOptions,
    configured: bool,
    limits: Limits,
    in_flight: AtomicUsize,
    calls: AtomicU64,
    failures: AtomicU64,
    rate_limited: AtomicU64,
    held_back: AtomicU64,
    busy: AtomicU64,
    /// Wall time of each call that went out (for `/metrics`).
    latency: crate::metrics::Histogram,
    last_error: Mutex<Option<(String, i64)>>,
}

impl Shared {
    fn record(&self, route: Option<&str>, started: Instant, result: Result<(), &ServiceError>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let elapsed = started.elapsed();
        self.latency.observe_duration(elapsed);
        let elapsed_ms = elapsed.as_millis() as u64;
        let service = self.opts.name.as_str();
        match result {
            Ok(()) => tracing::debug!(service, route, elapsed_ms, "service call"),
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                if e.is_rate_limited() {
                    self.rate_limited.fetch_add(1, Ordering::Relaxed);
                }
                tracing::warn!(service, route, elapsed_ms, retryable = e.is_retryable(), error = %e, "service call failed");
                *self.last_error.lock().expect("stats lock") = Some((e.to_string(), crate::time::now_ms()));
            }
        }
    }
}

/// The handle: cheap to clone, `Send + Sync`; dropping the last one stops the actor.
#[derive(Clone)]
pub struct Service {
    tx: mpsc::Sender<Envelope>,
    shared: Arc<Shared>,
}

impl Service {
    /// Starts the actor on the current tokio runtime. `configured` is reported in the stats only.
    pub fn start(opts: ServiceOptions, configured: bool) -> Service {
        let (tx, rx) = mpsc::channel(opts.mailbox.max(1));
        let shared = Arc::new(Shared {
            limits: Limits::new(opts.rate, opts.per_route),
            configured,
            opts,
            in_flight: AtomicUsize::new(0),
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            held_back: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            latency: crate::metrics::Histogram::durations(),
            last_error: Mutex::new(None),
        });
        tokio::spawn(run(rx, shared.clone()));
        Service { tx, shared }
    }

    pub fn name(&self) -> &str {
        &self.shared.opts.name
    }

    /// How long the calls that went out took (seconds).
    pub fn latency(&self) -> crate::metrics::HistogramSnapshot {
        self.shared.latency.snapshot()
    }

    pub fn timeout(&self) -> Duration {
        self.shared.opts.timeout
    }

    /// Runs `call` through the actor: paced by the limits, bounded by the timeout. Fails at once with
    /// [`ServiceError::Busy`] when the mailbox is full, and with [`ServiceError::RateLimited`] (retry after the
    /// estimated wait) when the calls queued ahead would take longer than the timeout to go out at the rate. `route` names the rate-limit bucket (e.g.
    /// `PATCH guilds/{id}/members`), if the service has per-route buckets.
    pub async fn call<T, F, Fut>(&self, route: Option<&str>, call: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, ServiceError>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let timeout = self.shared.opts.timeout;
        let shared = self.shared.clone();
        let route_name = route.map(str::to_string);
        let job: Job = Box::new(move |refused| {
            Box::pin(async move {
                if let Some(e) = refused {
                    let _ = reply.send(Err(e));
                    return;
                }
                let started = Instant::now();
                let result = match tokio::time::timeout(timeout, call()).await {
                    Ok(r) => r,
                    Err(_) => Err(ServiceError::Timeout {
                        service: shared.opts.name.clone(),
                        after: timeout,
                    }),
                };
                shared.record(route_name.as_deref(), started, result.as_ref().map(|_| ()));
                let _ = reply.send(result);
            })
        });
        // Calls queued ahead will take at least this long to go out: beyond the call timeout, the caller is better
        // off snoozing in the database than waiting here.
        let queued = self.queued();
        let wait = self.shared.limits.period * u32::try_from(queued).unwrap_or(u32::MAX);
        if queued > 0 && wait > self.shared.opts.timeout {
            self.shared.held_back.fetch_add(1, Ordering::Relaxed);
            return Err(ServiceError::RateLimited {
                service: self.shared.opts.name.clone(),
                message: format!("{queued} calls queued ahead"),
                retry_after: wait,
            });
        }
        let envelope = Envelope {
            route: route.map(str::to_string),
            job,
        };
        match self.tx.try_send(envelope) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.busy.fetch_add(1, Ordering::Relaxed);
                return Err(ServiceError::Busy {
                    service: self.shared.opts.name.clone(),
                    queued: self.queued(),
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(self.stopped()),
        }
        answer.await.unwrap_or_else(|_| Err(self.stopped()))
    }

    /// The service said this route's bucket is empty for `for_` (e.g. `X-RateLimit-Remaining: 0`).
    pub fn block_route(&self, route: &str, for_: Duration) {
        self.shared.limits.block_route(route, for_)
    }

    /// The service said every call is limited for `for_` (e.g. Discord's global 429).
    pub fn block_all(&self, for_: Duration) {
        self.shared.limits.block_all(for_)
    }

    fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    fn stopped(&self) -> ServiceError {
        ServiceError::Stopped {
            service: self.shared.opts.name.clone(),
        }
    }

    pub fn stats(&self) -> ServiceStats {
        let s = &self.shared;
        let last = s.last_error.lock().expect("stats lock").clone();
        ServiceStats {
            name: s.opts.name.clone(),
            configured: s.configured,
            mailbox_capacity: self.tx.max_capacity(),
            queued: self.queued(),
            in_flight: s.in_flight.load(Ordering::Relaxed),
            calls: s.calls.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            rate_limited: s.rate_limited.load(Ordering::Relaxed),
            held_back: s.held_back.load(Ordering::Relaxed),
            busy: s.busy.load(Ordering::Relaxed),
            last_error_at_ms: last.as_ref().map(|l| l.1),
            last_error: last.map(|l| l.0),
        }
    }
}

async fn run(mut rx: mpsc::Receiver<Envelope>, shared: Arc<Shared>) {
    let permits = Arc::new(Semaphore::new(shared.opts.concurrency.max(1)));
    while let Some(Envelope { route, job }) = rx.recv().await {
        if let Some(wait) = shared.limits.blocked_for(route.as_deref()) {
            shared.held_back.fetch_add(1, Ordering::Relaxed);
            let refused = ServiceError::RateLimited {
                service: shared.opts.name.clone(),
                message: format!("bucket {} exhausted", route.as_deref().unwrap_or("(global)")),
                retry_after: wait,
            };
            job(Some(refused)).await;
            continue;
        }
        shared.limits.service_token().await;
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Some(r) = &route {
                shared.limits.route_token(r).await;
            }
            job(None).await;
            shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(mailbox: usize, concurrency: usize) -> ServiceOptions {
        ServiceOptions {
            mailbox,
            concurrency,
            timeout: Duration::from_millis(200),
            rate: RateSpec::per_second(1000),
            ..ServiceOptions::new("test")
        }
    }

    #[tokio::test]
    async fn calls_answer_and_count() {
        let s = Service::start(opts(4, 2), true);
        assert_eq!(s.call(None, || async { Ok(41 + 1) }).await, Ok(42));
        let err = s
            .call::<(), _, _>(Some("r"), || async {
                Err(ServiceError::Rejected {
                    service: "test".into(),
                    status: 400,
                    message: "nope".into(),
                })
            })
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(400));
        let st = s.stats();
        assert_eq!((st.calls, st.failures, st.rate_limited), (2, 1, 0));
        assert!(st.last_error.unwrap().contains("nope"));
    }

    #[tokio::test]
    async fn a_full_mailbox_refuses_at_once() {
        let s = Service::start(opts(1, 1), true);
        let gate = Arc::new(tokio::sync::Notify::new());
        // One call runs (holding the only permit), one waits in the actor for a permit, one fills the mailbox.
        let mut held = Vec::new();
        for _ in 0..3 {
            let (s2, g) = (s.clone(), gate.clone());
            held.push(tokio::spawn(async move {
                s2.call(None, move || async move {
                    g.notified().await;
                    Ok(())
                })
                .await
            }));
            tokio::task::yield_now().await;
        }
        let mut refused = None;
        for _ in 0..100 {
            match s.call(None, || async { Ok(()) }).await {
                Err(e @ ServiceError::Busy { .. }) => {
                    refused = Some(e);
                    break;
                }
                _ => tokio::task::yield_now().await,
            }
        }
        let e = refused.expect("a full mailbox refuses");
        assert!(e.is_retryable() && e.retry_after().is_some());
        assert!(s.stats().busy >= 1);
        gate.notify_waiters();
        drop(held);
    }

    #[tokio::test]
    async fn timeouts_and_blocked_routes_are_retryable() {
        let s = Service::start(opts(4, 2), true);
        let e = s
            .call(None, || async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(e, ServiceError::Timeout { .. }) && e.is_retryable());
        s.block_route("r", Duration::from_secs(30));
        let e = s.call(Some("r"), || async { Ok(()) }).await.unwrap_err();
        assert!(e.is_rate_limited() && e.retry_after().unwrap() > Duration::from_secs(29));
        assert_eq!(s.call(Some("other"), || async { Ok(1) }).await, Ok(1));
        assert_eq!(s.stats().held_back, 1);
    }

    #[tokio::test]
    async fn a_queue_longer_than_the_timeout_snoozes_the_caller() {
        let s = Service::start(
            ServiceOptions {
                rate: RateSpec::per_second(1),
                mailbox: 8,
                timeout: Duration::from_millis(200),
                ..ServiceOptions::new("slow")
            },
            true,
        );
        // The first call takes the only token; the second waits in the actor for the next one (1 s).
        assert_eq!(s.call(None, || async { Ok(1) }).await, Ok(1));
        let s2 = s.clone();
        let waiting = tokio::spawn(async move { s2.call(None, || async { Ok(2) }).await });
        while s.stats().queued > 0 || s.stats().calls < 1 {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        // Queued behind it: accepted while nothing is queued, then the estimate (1 call × 1 s) exceeds 200 ms.
        let s3 = s.clone();
        let _queued = tokio::spawn(async move { s3.call(None, || async { Ok(3) }).await });
        while s.stats().queued == 0 {
            tokio::task::yield_now().await;
        }
        let e = s.call(None, || async { Ok(4) }).await.unwrap_err();
        assert!(
            e.is_rate_limited() && e.retry_after() == Some(Duration::from_secs(1)),
            "{e:?}"
        );
        assert_eq!(s.stats().held_back, 1);
        assert_eq!(waiting.await.unwrap(), Ok(2));
    }
}
