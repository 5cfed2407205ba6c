//! The storage seam. The runtime persists through this trait only; the application implements it with Diesel
//! for SQLite and PostgreSQL (`src/store/runs.rs`), and one conformance suite runs it on both.
//!
//! Contract for implementors:
//! - Every write that concerns a claimed run is guarded by its [`Lease`]: the row changes only while the run is
//!   still `running` with the same `lease_token`. A write that matches no row returns [`StoreError::LeaseLost`].
//! - A step key has at most one final attempt (`completed` or `failed`); recording a second one returns
//!   [`StepWrite::AlreadyFinal`] with what was stored first.

use crate::error::{ErrorInfo, StepError};
pub use crate::event::NewEvent;
use crate::run::state::{RunEvent, RunStatus, StepStatus};
use async_trait::async_trait;

#[cfg(test)]
pub(crate) mod scripted;

/// Proof of ownership of a running run: its id and the fencing token of our claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub run_id: String,
    pub token: i64,
}

/// A run a worker just claimed.
#[derive(Debug, Clone)]
pub struct ClaimedRun {
    pub lease: Lease,
    pub function_id: String,
    /// The trigger event as the handler and CEL see it: `{name, data, user, id, ts, v}`.
    pub event: serde_json::Value,
    /// Function-level attempts already used (errors outside steps).
    pub attempt: u32,
    /// This is the run's first claim ever: it cannot have persisted steps, so loading them is skipped.
    pub first_claim: bool,
    /// The run's persisted step attempts when the claim loaded them (a run claimed before); `None`: load them.
    pub steps: Option<Vec<StepRecord>>,
    /// The run that invoked this one (`step.invoke`), which waits for its result.
    pub parent_run_id: Option<String>,
    /// A batched run's events in arrival order (empty for a run of one event).
    pub batch: Vec<serde_json::Value>,
    /// When the run was created (its event arrived) and first started: `timeouts.start` / `.finish`.
    pub created_at_ms: i64,
    pub started_at_ms: i64,
    /// Why the run's stored data (its trigger event, a batch's events, its step attempts) could not be read, when
    /// it could not: the run is claimed all the same and fails for good without running, alone — the rest of its
    /// claim runs, and its function's queue does not stall behind it. `event` is then `null`.
    pub unreadable: Option<String>,
}

/// What a pool asks for when it claims.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    pub function_id: String,
    pub node_id: String,
    pub limit: usize,
    pub now_ms: i64,
    /// Runs leased by nodes whose heartbeat is older than this are rescued.
    pub stale_before_ms: i64,
    /// Sleeping runs that wake by this time are claimed too (`RuntimeConfig::wake_ahead`); other runs must be due.
    pub wake_by_ms: i64,
    /// The function's concurrency, throttle and priority rules (enforced across every daemon).
    pub limits: crate::flow::ClaimLimits,
}

/// A persisted step attempt, as loaded when a run (re)starts.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    pub key: String,
    pub attempt: u32,
    pub status: StepStatus,
    pub output: Option<serde_json::Value>,
    pub error: Option<ErrorInfo>,
    /// `run`, `sleep`, `wait_for_event`, `invoke`, `send_event`.
    pub kind: String,
    /// For a waiting attempt: when it resumes (the sleep's end, the timeout).
    pub wake_at_ms: Option<i64>,
    pub started_at_ms: i64,
}

/// A finished attempt of a step, to persist.
#[derive(Debug, Clone, PartialEq)]
pub struct StepAttempt {
    pub key: String,
    pub name: String,
    pub attempt: u32,
    /// The order in which the handler reached this step (0, 1, 2, ...).
    pub position: u32,
    pub status: StepStatus,
    pub output: Option<serde_json::Value>,
    pub error: Option<ErrorInfo>,
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
    pub retry_at_ms: Option<i64>,
    /// `run`, `sleep`, `wait_for_event`, `invoke`, `send_event`.
    pub kind: &'static str,
    /// For a waiting attempt: when it resumes.
    pub wake_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepWrite {
    Written,
    /// Another attempt already finished this step; here is what it stored.
    AlreadyFinal(StepRecord),
}

/// A transactional step's work ([`crate::Step::run_tx`]), opaque to the runtime: the application builds it for its
/// own store, which runs it inside the transaction that records the step's attempt
/// ([`RunStore::record_tx_step`]). The runtime never looks inside, so it knows nothing of the transaction's type
/// (SQL stays in the application); a store that is handed work it did not build refuses it as [`StoreError::Data`].
pub struct TxWork(pub Box<dyn std::any::Any + Send>);

impl std::fmt::Debug for TxWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TxWork(..)")
    }
}

/// What [`RunStore::record_tx_step`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum TxStepWrite {
    /// The work's writes and the completed attempt, whose output is this value, committed together.
    Written(serde_json::Value),
    /// Another attempt already finished this step; the work's writes were rolled back. Here is what it stored.
    AlreadyFinal(StepRecord),
    /// The work failed: its writes were rolled back and nothing was recorded. The runtime classifies the error and
    /// records the attempt as any step's (`errored` with a retry, or `failed`).
    Failed(StepError),
}

/// A run transition to persist, computed by [`crate::run::state::transition`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunChange {
    pub from: RunStatus,
    pub to: RunStatus,
    pub event: RunEvent,
    pub output: Option<serde_json::Value>,
    pub error: Option<ErrorInfo>,
    /// For `queued`: when the run may be claimed again.
    pub run_at_ms: Option<i64>,
    /// The function-level attempt counter after this change.
    pub attempt: u32,
    pub at_ms: i64,
    /// For a final change: the run's system events (`inngest/function.*`) must be emitted, or a parent resumed.
    pub notify: bool,
    /// For a `waiting` change: a wait or invoke of this run resolved since this time makes it due at once
    /// (`WaitStarted` and `Resumed` in one write), so a result that raced the suspension is never stranded.
    pub resolved_since_ms: Option<i64>,
    /// Step attempts written in the same transaction, before the transition: ends of sleeps that the step tools
    /// deferred (a sleep's end has no side effect, so it need not cost a write of its own).
    pub steps: Vec<StepAttempt>,
}

/// What a `wait_for_event` step waits for; indexed so that intake can match arriving events. A `wait_for_any`
/// step has one per alternative, numbered by `alternative`, each with a `key` of its own.
#[derive(Debug, Clone)]
pub struct WaitSpec {
    pub key: String,
    /// For `wait_for_any`: which of the step's alternatives this is (the resolution records it, with the event).
    pub alternative: Option<u32>,
    pub event_name: String,
    pub expr: Option<String>,
    /// The run's trigger event (CEL's `event`).
    pub trigger_event: serde_json::Value,
    pub expires_at_ms: i64,
}

/// A finished run whose system events are still to be emitted (the outbox).
#[derive(Debug, Clone)]
pub struct FinishedRun {
    pub run_id: String,
    pub function_id: String,
    pub status: RunStatus,
    pub event: serde_json::Value,
    pub output: Option<serde_json::Value>,
    pub error: Option<ErrorInfo>,
    pub parent_run_id: Option<String>,
    pub parent_step_key: Option<String>,
}

/// The result an invoked child hands its parent's waiting step.
#[derive(Debug, Clone)]
pub struct ParentResolution {
    pub parent_run_id: String,
    pub step_key: String,
    pub status: StepStatus,
    pub output: Option<serde_json::Value>,
    pub error: Option<ErrorInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The run is no longer ours (rescued by another worker, or already finished).
    #[error("lease lost")]
    LeaseLost,
    /// The database could not be reached or refused the write; worth retrying.
    #[error("database error: {0}")]
    Database(String),
    /// Stored data could not be read back (corrupt JSON, unknown status).
    #[error("bad stored data: {0}")]
    Data(String),
}

#[async_trait]
pub trait RunStore: Send + Sync + 'static {
    /// Claims up to `limit` due runs of a function: queued runs whose `run_at` has come, and running runs whose
    /// node stopped heartbeating. Claimed runs get a new lease token.
    async fn claim(&self, req: ClaimRequest) -> Result<Vec<ClaimedRun>, StoreError>;
    /// Every persisted attempt of a run's steps.
    async fn load_steps(&self, run_id: &str) -> Result<Vec<StepRecord>, StoreError>;
    /// Persists a finished step attempt (guarded by the lease).
    async fn record_step(&self, lease: &Lease, attempt: &StepAttempt) -> Result<StepWrite, StoreError>;
    /// Persists `attempt` after `earlier` — attempts a step tool deferred (a sleep's end, a pure step's result) —
    /// in one transaction where the store can; the answer is `attempt`'s (what became of `earlier` only matters
    /// if it fails). By default they are recorded one after the other.
    async fn record_step_after(
        &self,
        lease: &Lease,
        earlier: &[StepAttempt],
        attempt: &StepAttempt,
    ) -> Result<StepWrite, StoreError> {
        for e in earlier {
            self.record_step(lease, e).await?;
        }
        self.record_step(lease, attempt).await
    }
    /// A transactional step: runs `work` and records `attempt` — `completed`, its output what the work returned —
    /// in one transaction, guarded by the lease: both land or neither does. The work's failure, a lease lost, or a
    /// final attempt recorded first rolls the work's writes back (see [`TxStepWrite`]); so does an output over
    /// `max_output_bytes` (serialized JSON), which fails the work fatally. `earlier` — attempts a step tool
    /// deferred (pure and read steps, a sleep's end) — are recorded in the same transaction, whatever the work
    /// does (they stand on their own). The default refuses: a store that offers transactional steps overrides it.
    async fn record_tx_step(
        &self,
        _lease: &Lease,
        _earlier: &[StepAttempt],
        _attempt: &StepAttempt,
        _work: TxWork,
        _max_output_bytes: usize,
    ) -> Result<TxStepWrite, StoreError> {
        Err(StoreError::Data("this store does not run transactional steps".into()))
    }
    /// A read step's work ([`crate::Step::run_read`]): runs `work` — built by the application as for
    /// [`RunStore::record_tx_step`] — on a read connection, in a read-only transaction where the store has them, and
    /// records nothing: the step tool defers the attempt to the run's next write. The outer error is the store's
    /// (the work could not be run), the inner one the work's. The default refuses: a store that offers read steps
    /// overrides it.
    async fn run_read(&self, _work: TxWork) -> Result<Result<serde_json::Value, StepError>, StoreError> {
        Err(StoreError::Data("this store does not run read steps".into()))
    }
    /// Persists a run transition (guarded by the lease and the `from` status).
    async fn change_run(&self, lease: &Lease, change: &RunChange) -> Result<(), StoreError>;
    /// When a function's pool should claim next, after `after_ms`: the earliest `run_at` of its queued or waiting
    /// runs, or of its sleeping runs less `ahead_ms` (they are claimed that much early), so no wake-up waits for the
    /// supervisor's poll.
    async fn next_wake(&self, function_id: &str, after_ms: i64, ahead_ms: i64) -> Result<Option<i64>, StoreError>;
    /// Functions that have due work now, for the supervisor's poll.
    async fn due_functions(&self, now_ms: i64, stale_before_ms: i64) -> Result<Vec<String>, StoreError>;
    /// Records that this node is alive (its leases stay valid).
    async fn heartbeat(&self, node_id: &str, now_ms: i64) -> Result<(), StoreError>;
    /// Hands back every run this node holds (start-up after a crash, or shutdown): running → queued.
    async fn release_node(&self, node_id: &str, now_ms: i64) -> Result<u64, StoreError>;
    /// Hands back (running → queued) the runs of `function_id` this node holds since `since_ms`, except `keep`:
    /// after a claim whose answer was lost — the database may have committed it and gone away before replying —
    /// the pool calls this once the database answers again, so a run claimed without anyone executing it does not
    /// stay `running` for as long as the node lives.
    async fn release_in_doubt(
        &self,
        function_id: &str,
        node_id: &str,
        since_ms: i64,
        keep: &[String],
        now_ms: i64,
    ) -> Result<u64, StoreError>;

    /// Atomically records a step's waiting attempt, the waits to index (wait_for_event: one; wait_for_any: one per
    /// alternative) and the child run to start (invoke), guarded by the lease. A waiting attempt already recorded is
    /// not an error.
    async fn begin_wait(
        &self,
        lease: &Lease,
        step: &StepAttempt,
        waits: &[WaitSpec],
        child: Option<&NewEvent>,
    ) -> Result<StepWrite, StoreError>;
    /// Events named `name` received in `[from_ms, to_ms]`, oldest first, as CEL sees them (wait look-back).
    async fn recent_events(&self, name: &str, from_ms: i64, to_ms: i64) -> Result<Vec<serde_json::Value>, StoreError>;
    /// Stores emitted events and starts their runs (one transaction); returns the functions to wake.
    async fn send_events(&self, events: &[NewEvent], now_ms: i64) -> Result<Vec<String>, StoreError>;
    /// After a run went `waiting`: if one of its waits was resolved since `since_ms` (an event raced the
    /// suspension), make it due now (`Resumed`).
    async fn resume_if_resolved(&self, run_id: &str, since_ms: i64, now_ms: i64) -> Result<bool, StoreError>;
    /// A run's status, output and error (an invoke's timeout check).
    async fn run_outcome(&self, run_id: &str) -> Result<Option<FinishedRun>, StoreError>;
    /// Cancels a run that has not finished (any node's). Returns false if it had already finished.
    async fn cancel_run(&self, run_id: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Fires a cron tick: claims `(function, schedule, tick)` and stores its event and run, in one transaction.
    /// False if the tick was fired already (by another daemon).
    async fn fire_cron(
        &self,
        function_id: &str,
        schedule: &str,
        tick_ms: i64,
        event: &NewEvent,
    ) -> Result<bool, StoreError>;
    /// The latest tick of `(function, schedule)` fired so far (by any daemon), if any: the scheduler's start-up
    /// uses it to catch up one tick missed while no daemon ran. The default (no record) catches up nothing.
    async fn last_cron_tick(&self, _function_id: &str, _schedule: &str) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }
    /// Finished runs whose notifications are pending, oldest first.
    async fn pending_notifications(&self, limit: usize) -> Result<Vec<FinishedRun>, StoreError>;
    /// Emits a finished run's system events, resumes its parent, clears its flag — one transaction. Returns the
    /// functions to wake.
    async fn complete_notification(
        &self,
        run_id: &str,
        events: &[NewEvent],
        parent: Option<&ParentResolution>,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError>;
}
