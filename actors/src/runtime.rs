//! What every actor of the runtime shares: the store, the registry, the node's identity and the knobs.

use crate::backoff::Backoff;
use crate::function::Registry;
use crate::store::RunStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// This daemon's identity in the `nodes` table; the owner of its leases.
    pub node_id: String,
    /// Most runs of one function executing at once in this daemon (a pool's slots).
    pub max_runs_per_function: usize,
    /// Capacity of each pool's and the supervisor's mailbox.
    pub mailbox_capacity: usize,
    /// How often the supervisor looks for due work it was not told about (other daemons, timers, rescues).
    pub poll_interval: Duration,
    /// A node that has not heartbeated for this long is presumed dead and its runs are rescued.
    pub lease_ttl: Duration,
    pub backoff: Backoff,
    /// Threads (actix arbiters) that run actors execute on; 0 runs them on the supervisor's thread.
    pub engine_threads: usize,
    /// How far back `wait_for_event` looks for an event that arrived just before the wait began.
    pub wait_lookback: Duration,
    /// A sleeping run is claimed up to this long before it wakes, and its sleep ends in the run actor on time:
    /// the claim and the loading of its steps are done before the wake-up rather than after it.
    pub wake_ahead: Duration,
    /// The shortest time between two of a pool's look-ups of its next wake-up ([`crate::pool::WAKE_LOOKUP_GAP`]).
    pub wake_lookup_gap: Duration,
    /// The shortest time between the starts of two claims of a busy pool: wake-ups within it are claimed together
    /// at its end (zero: a claim per wake-up while none is under way).
    pub claim_gap: Duration,
    /// A pool is busy (its claims paced by `claim_gap`) with at least this many runs under way
    /// ([`crate::pool::CLAIM_GAP_BUSY`]).
    pub claim_gap_busy: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            node_id: "local".into(),
            max_runs_per_function: crate::pool::MAX_RUNS_PER_FUNCTION,
            mailbox_capacity: 1024,
            poll_interval: Duration::from_secs(1),
            lease_ttl: Duration::from_secs(30),
            backoff: Backoff::Inngest,
            engine_threads: 0,
            wait_lookback: Duration::from_secs(5),
            wake_ahead: Duration::from_millis(250),
            wake_lookup_gap: crate::pool::WAKE_LOOKUP_GAP,
            claim_gap: crate::pool::CLAIM_GAP,
            claim_gap_busy: crate::pool::CLAIM_GAP_BUSY,
        }
    }
}

/// Shared by the supervisor, pools and run actors.
pub struct Runtime {
    pub config: RuntimeConfig,
    pub store: Arc<dyn RunStore>,
    pub registry: Arc<Registry>,
    /// Counters and histograms for `/metrics` (lock-free; read at scrape time).
    pub metrics: crate::metrics::EngineMetrics,
    shutting_down: AtomicBool,
    /// Notified whenever a run reaches a final state or is handed back; drain waiters listen here.
    pub run_settled: Notify,
    shutdown_begun: Notify,
    /// Set by the supervisor: tells pools that their functions have new due work.
    waker: std::sync::OnceLock<Box<dyn Fn(Vec<String>) + Send + Sync>>,
    /// Set by the application when traces are exported: receives step attempts and run ends.
    trace: std::sync::OnceLock<Arc<dyn crate::trace::TraceSink>>,
}

impl Runtime {
    pub fn new(config: RuntimeConfig, store: Arc<dyn RunStore>, registry: Arc<Registry>) -> Arc<Runtime> {
        Arc::new(Runtime {
            config,
            store,
            metrics: crate::metrics::EngineMetrics::new(&registry),
            registry,
            shutting_down: AtomicBool::new(false),
            run_settled: Notify::new(),
            shutdown_begun: Notify::new(),
            waker: std::sync::OnceLock::new(),
            trace: std::sync::OnceLock::new(),
        })
    }

    /// Sends the engine's trace reports to `sink` from now on (once; a second sink is ignored).
    pub fn set_trace_sink(&self, sink: Arc<dyn crate::trace::TraceSink>) {
        let _ = self.trace.set(sink);
    }

    /// The trace sink, if the application set one.
    pub fn trace_sink(&self) -> Option<&dyn crate::trace::TraceSink> {
        self.trace.get().map(|s| s.as_ref())
    }

    /// Wakes the pools of these functions (new runs, a resumed run). Best effort: the poll finds missed work.
    pub fn wake(&self, function_ids: Vec<String>) {
        if function_ids.is_empty() {
            return;
        }
        if let Some(w) = self.waker.get() {
            w(function_ids);
        }
    }

    pub(crate) fn set_waker(&self, waker: Box<dyn Fn(Vec<String>) + Send + Sync>) {
        let _ = self.waker.set(waker);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.shutdown_begun.notify_waiters();
    }

    /// Resolves once a graceful shutdown has begun (no new step starts after that). Create it before the
    /// shutdown is triggered.
    pub fn shutdown_begun(&self) -> tokio::sync::futures::Notified<'_> {
        self.shutdown_begun.notified()
    }

    pub fn stale_before_ms(&self, now_ms: i64) -> i64 {
        now_ms - self.config.lease_ttl.as_millis() as i64
    }
}
