//! Flow control: how a function's runs are admitted, ordered and bounded — Inngest's `concurrency`, `throttle`,
//! `rateLimit`, `debounce`, `cancelOn`, `timeouts`, `priority`, `batchEvents` and `singleton`.
//!
//! [`FlowConfig`] is what a function declares; [`Flow::compile`] validates it (bounds, CEL, combinations Inngest
//! refuses) when the registry is built, so a bad configuration refuses start-up. [`Flow::admit`] evaluates the keys
//! for one event at intake; the store enforces the rest:
//! - rate limit: events over the limit in the window (which starts at the first event) are skipped and recorded;
//! - debounce: one pending run per key, pushed back by each new event and given the newest event, started at the
//!   latest `timeout` (Inngest's `timeout`, elsewhere called maxWait) after the first event of its window;
//! - singleton: at most one unfinished run per key — a new run is skipped (`skip`) or replaces the unfinished
//!   one, which is cancelled (`cancel`);
//! - cancel_on: a wait per rule, indexed like `wait_for_event`;
//! - concurrency and throttle: the claim takes only runs whose key has room (several daemons take turns on
//!   PostgreSQL under a per-function advisory lock);
//! - priority: claims order due runs by `run_at − priority`.

use crate::expr::{Expr, ExprError, Vars};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(24 * 3600);
/// The most a priority factor may move a run (OSS Inngest's ±12 h).
pub const MAX_PRIORITY: Duration = Duration::from_secs(12 * 3600);
/// A cancel_on listener's default lifetime (a year, as Inngest).
pub const DEFAULT_CANCEL_TIMEOUT: Duration = Duration::from_secs(366 * 24 * 3600);

#[derive(Debug, Clone)]
pub struct Concurrency {
    pub limit: u32,
    /// CEL: one limit per key value (a virtual queue per key).
    pub key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Throttle {
    pub limit: u32,
    pub period: Duration,
    /// Extra starts allowed in a period on top of `limit`.
    pub burst: u32,
    pub key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RateLimit {
    pub limit: u32,
    pub period: Duration,
    pub key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Debounce {
    pub period: Duration,
    pub key: Option<String>,
    /// The longest a run may be pushed back from its first event.
    pub timeout: Option<Duration>,
}

/// What a singleton function does with a new run while one is unfinished for the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SingletonMode {
    /// The new run is not created; the event records the skip (`singleton`) and the run that holds the key.
    Skip,
    /// The unfinished run is cancelled and the new one starts.
    Cancel,
}

impl SingletonMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SingletonMode::Skip => "skip",
            SingletonMode::Cancel => "cancel",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Singleton {
    /// CEL: one slot per key value (none: one slot for the function).
    pub key: Option<String>,
    pub mode: SingletonMode,
}

#[derive(Debug, Clone)]
pub struct CancelOn {
    pub event: String,
    /// CEL over `event` (the run's trigger) and `async` (the incoming event).
    pub if_expr: Option<String>,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct BatchEvents {
    /// A batch's run starts when it holds this many events (1–100)...
    pub max_size: u32,
    /// ...or this long after its first event (1 s–60 s).
    pub timeout: Duration,
    /// CEL: one batch per key value.
    pub key: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Timeouts {
    /// Longest wait in the queue before the first step starts.
    pub start: Option<Duration>,
    /// Longest run time after the start.
    pub finish: Option<Duration>,
}

/// What a function declares.
#[derive(Debug, Clone, Default)]
pub struct FlowConfig {
    pub concurrency: Vec<Concurrency>,
    pub throttle: Option<Throttle>,
    pub rate_limit: Option<RateLimit>,
    pub debounce: Option<Debounce>,
    pub cancel_on: Vec<CancelOn>,
    pub timeouts: Timeouts,
    /// CEL yielding an integer number of seconds.
    pub priority: Option<String>,
    pub batch: Option<BatchEvents>,
    pub singleton: Option<Singleton>,
}

/// The keys and limits evaluated for one event at intake.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Admission {
    pub concurrency_key: Option<String>,
    pub throttle_key: Option<String>,
    pub priority_ms: i64,
    /// (key, limit, period ms)
    pub rate_limit: Option<(String, u32, i64)>,
    /// (key, period ms, timeout ms)
    pub debounce: Option<(String, i64, Option<i64>)>,
    /// (event name, `if`, listener lifetime ms)
    pub cancel_on: Vec<(String, Option<String>, i64)>,
    /// (key, max size, timeout ms)
    pub batch: Option<(String, u32, i64)>,
    /// (key, mode)
    pub singleton: Option<(String, SingletonMode)>,
}

/// What the claim must respect (per function, across every daemon).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClaimLimits {
    /// Runs executing at once, function-wide.
    pub concurrency: Option<u32>,
    /// Runs executing at once per concurrency key.
    pub key_concurrency: Option<u32>,
    /// (starts per period incl. burst, period ms) per throttle key.
    pub throttle: Option<(u32, i64)>,
    /// Order due runs by priority.
    pub by_priority: bool,
}

impl ClaimLimits {
    pub fn any(&self) -> bool {
        self.concurrency.is_some() || self.key_concurrency.is_some() || self.throttle.is_some()
    }
}

/// A validated, compiled flow configuration.
#[derive(Debug, Clone, Default)]
pub struct Flow {
    pub config: FlowConfig,
    key_concurrency: Option<Expr>,
    throttle_key: Option<Expr>,
    rate_key: Option<Expr>,
    debounce_key: Option<Expr>,
    priority: Option<Expr>,
    batch_key: Option<Expr>,
    singleton_key: Option<Expr>,
    pub limits: ClaimLimits,
}

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Expr(#[from] ExprError),
}

fn within(what: &str, d: Duration, min: Duration, max: Duration) -> Result<(), FlowError> {
    if d < min || d > max {
        return Err(FlowError::Invalid(format!(
            "{what} must be between {} and {}, got {}",
            humanize(min),
            humanize(max),
            humanize(d)
        )));
    }
    Ok(())
}

fn humanize(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

fn compile(src: &Option<String>) -> Result<Option<Expr>, FlowError> {
    Ok(src.as_deref().map(Expr::compile).transpose()?)
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

impl Flow {
    /// Validates and compiles; `idempotent` says whether the function also has an idempotency key.
    pub fn compile(config: FlowConfig) -> Result<Flow, FlowError> {
        let c = &config;
        if c.concurrency.len() > 2 {
            return Err(FlowError::Invalid("at most 2 concurrency limits".into()));
        }
        let keyed: Vec<&Concurrency> = c
            .concurrency
            .iter()
            .filter(|x| x.key.is_some() && x.limit > 0)
            .collect();
        let plain: Vec<&Concurrency> = c
            .concurrency
            .iter()
            .filter(|x| x.key.is_none() && x.limit > 0)
            .collect();
        if keyed.len() > 1 || plain.len() > 1 {
            return Err(FlowError::Invalid(
                "concurrency: at most one limit with a key and one without".into(),
            ));
        }
        let mut limits = ClaimLimits {
            concurrency: plain.first().map(|x| x.limit),
            key_concurrency: keyed.first().map(|x| x.limit),
            ..ClaimLimits::default()
        };
        if let Some(t) = &c.throttle {
            if t.limit == 0 {
                return Err(FlowError::Invalid("throttle: limit must be at least 1".into()));
            }
            within("throttle period", t.period, SECOND, 7 * DAY)?;
            limits.throttle = Some((t.limit + t.burst, ms(t.period)));
        }
        if let Some(r) = &c.rate_limit {
            if r.limit == 0 {
                return Err(FlowError::Invalid("rate_limit: limit must be at least 1".into()));
            }
            within("rate_limit period", r.period, SECOND, DAY)?;
        }
        if let Some(d) = &c.debounce {
            within("debounce period", d.period, SECOND, 7 * DAY)?;
            if d.timeout.is_some_and(|t| t < d.period) {
                return Err(FlowError::Invalid(
                    "debounce: timeout must not be shorter than the period".into(),
                ));
            }
        }
        if c.cancel_on.len() > 5 {
            return Err(FlowError::Invalid("at most 5 cancel_on rules".into()));
        }
        for rule in &c.cancel_on {
            if rule.event.trim().is_empty() {
                return Err(FlowError::Invalid("cancel_on: the event name must be non-empty".into()));
            }
            compile(&rule.if_expr)?;
        }
        for (what, t) in [("start", c.timeouts.start), ("finish", c.timeouts.finish)] {
            if let Some(t) = t {
                within(&format!("timeouts.{what}"), t, SECOND, 366 * DAY)?;
            }
        }
        if let Some(b) = &c.batch {
            if !(1..=100).contains(&b.max_size) {
                return Err(FlowError::Invalid(format!(
                    "batch_events: max_size must be between 1 and 100, got {}",
                    b.max_size
                )));
            }
            within("batch_events timeout", b.timeout, SECOND, Duration::from_secs(60))?;
            let clash = [
                ("rate_limit", c.rate_limit.is_some()),
                ("debounce", c.debounce.is_some()),
                ("cancel_on", !c.cancel_on.is_empty()),
                ("priority", c.priority.is_some()),
                ("singleton", c.singleton.is_some()),
            ];
            if let Some((what, _)) = clash.iter().find(|(_, on)| *on) {
                return Err(FlowError::Invalid(format!(
                    "batch_events cannot be combined with {what} (as in Inngest)"
                )));
            }
        }
        limits.by_priority = c.priority.is_some();
        Ok(Flow {
            batch_key: compile(&c.batch.as_ref().and_then(|b| b.key.clone()))?,
            singleton_key: compile(&c.singleton.as_ref().and_then(|s| s.key.clone()))?,
            key_concurrency: compile(&keyed.first().and_then(|x| x.key.clone()))?,
            throttle_key: compile(&c.throttle.as_ref().and_then(|t| t.key.clone()))?,
            rate_key: compile(&c.rate_limit.as_ref().and_then(|t| t.key.clone()))?,
            debounce_key: compile(&c.debounce.as_ref().and_then(|t| t.key.clone()))?,
            priority: compile(&c.priority)?,
            limits,
            config,
        })
    }

    /// Evaluates the keys for one event (`{id, name, data, user, ts, v}`). A key that does not evaluate (missing
    /// field) falls into the shared "no key" bucket, as in Inngest.
    pub fn admit(&self, event: &serde_json::Value, now_ms: i64) -> Admission {
        let vars = Vars::new(now_ms).event(event);
        let key = |e: &Option<Expr>| e.as_ref().map(|x| x.key_with(&vars).unwrap_or_default());
        let c = &self.config;
        Admission {
            concurrency_key: key(&self.key_concurrency),
            // Every throttled run has a key ("" without a key expression): the claim counts starts per key.
            throttle_key: c.throttle.as_ref().map(|_| key(&self.throttle_key).unwrap_or_default()),
            priority_ms: self
                .priority
                .as_ref()
                .and_then(|p| p.int_with(&vars))
                .map(|s| s.saturating_mul(1000).clamp(-ms(MAX_PRIORITY), ms(MAX_PRIORITY)))
                .unwrap_or(0),
            rate_limit: c
                .rate_limit
                .as_ref()
                .map(|r| (key(&self.rate_key).unwrap_or_default(), r.limit, ms(r.period))),
            debounce: c.debounce.as_ref().map(|d| {
                (
                    key(&self.debounce_key).unwrap_or_default(),
                    ms(d.period),
                    d.timeout.map(ms),
                )
            }),
            batch: c
                .batch
                .as_ref()
                .map(|b| (key(&self.batch_key).unwrap_or_default(), b.max_size, ms(b.timeout))),
            singleton: c
                .singleton
                .as_ref()
                .map(|s| (key(&self.singleton_key).unwrap_or_default(), s.mode)),
            cancel_on: c
                .cancel_on
                .iter()
                .map(|r| {
                    let t = r.timeout.unwrap_or(DEFAULT_CANCEL_TIMEOUT);
                    (r.event.clone(), r.if_expr.clone(), ms(t))
                })
                .collect(),
        }
    }
}

/// Flow-control setters on a function definition.
impl crate::function::FunctionDef {
    /// At most `limit` runs of this function execute at once (sleeping and waiting runs do not count); with a CEL
    /// `key`, per key value. At most one plain and one keyed limit.
    pub fn concurrency(mut self, limit: u32, key: Option<&str>) -> Self {
        self.flow.concurrency.push(Concurrency {
            limit,
            key: key.map(str::to_string),
        });
        self
    }
    /// At most `limit` (+ `burst`) run starts per `period` (per key); excess runs wait in the queue.
    pub fn throttle(mut self, limit: u32, period: Duration, burst: u32, key: Option<&str>) -> Self {
        self.flow.throttle = Some(Throttle {
            limit,
            period,
            burst,
            key: key.map(str::to_string),
        });
        self
    }
    /// At most `limit` runs per `period` (per key); excess events start nothing and are recorded as skipped.
    pub fn rate_limit(mut self, limit: u32, period: Duration, key: Option<&str>) -> Self {
        self.flow.rate_limit = Some(RateLimit {
            limit,
            period,
            key: key.map(str::to_string),
        });
        self
    }
    /// One run per key, started `period` after the last event (at most `timeout` after the first), with the last
    /// event.
    pub fn debounce(mut self, period: Duration, key: Option<&str>, timeout: Option<Duration>) -> Self {
        self.flow.debounce = Some(Debounce {
            period,
            key: key.map(str::to_string),
            timeout,
        });
        self
    }
    /// Cancels a run when an `event` matching `if_expr` (over `event` and `async`) arrives within `timeout`.
    pub fn cancel_on(mut self, event: &str, if_expr: Option<&str>, timeout: Option<Duration>) -> Self {
        self.flow.cancel_on.push(CancelOn {
            event: event.to_string(),
            if_expr: if_expr.map(str::to_string),
            timeout,
        });
        self
    }
    /// Cancels a run not started within `start` of its event, or not finished within `finish` of its start.
    pub fn timeouts(mut self, start: Option<Duration>, finish: Option<Duration>) -> Self {
        self.flow.timeouts = Timeouts { start, finish };
        self
    }
    /// Collects events into one run (`ctx.events`): it starts at `max_size` events or `timeout` after the first,
    /// one batch per `key`. Not combinable with idempotency, rate_limit, debounce, cancel_on, priority or singleton.
    pub fn batch_events(mut self, max_size: u32, timeout: Duration, key: Option<&str>) -> Self {
        self.flow.batch = Some(BatchEvents {
            max_size,
            timeout,
            key: key.map(str::to_string),
        });
        self
    }
    /// At most one unfinished run per `key` (CEL; none: per function). While one is unfinished — queued, running,
    /// sleeping, waiting, or queued for a retry — a new run is skipped ([`SingletonMode::Skip`]) or replaces it,
    /// the unfinished one being cancelled ([`SingletonMode::Cancel`]). Not combinable with `batch_events`.
    pub fn singleton(mut self, key: Option<&str>, mode: SingletonMode) -> Self {
        self.flow.singleton = Some(Singleton {
            key: key.map(str::to_string),
            mode,
        });
        self
    }
    /// A CEL integer (seconds): the run is claimed as if it had been queued this much earlier.
    pub fn priority(mut self, expr: &str) -> Self {
        self.flow.priority = Some(expr.to_string());
        self
    }
}

#[cfg(test)]
mod tests;
