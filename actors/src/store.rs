//! The storage seam. The runtime persists through this trait only; the application implements it with Diesel
//! for SQLite and PostgreSQL (`src/store/runs.rs`), and one conformance suite runs it on both.
//!
//! Contract for implementors:
//! - Every write that concerns a claimed run is guarded by its [`Lease`]: the row changes only while the run is
//!   still `running` with the same `lease_token`. A write that matches no row returns [`StoreError::LeaseLost`].
//! - A step key has at most one final attempt (`completed` or `failed`); recording a second one returns
//!   [`StepWrite::AlreadyFinal`] with what was stored first.

use crate::error::ErrorInfo;
use crate::run::state::{RunEvent, RunStatus, StepStatus};
use async_trait::async_trait;

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
}

/// A persisted step attempt, as loaded when a run (re)starts.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    pub key: String,
    pub attempt: u32,
    pub status: StepStatus,
    pub output: Option<serde_json::Value>,
    pub error: Option<ErrorInfo>,
}

/// A finished attempt of a step, to persist.
#[derive(Debug, Clone)]
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
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepWrite {
    Written,
    /// Another attempt already finished this step; here is what it stored.
    AlreadyFinal(StepRecord),
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
    /// Persists a run transition (guarded by the lease and the `from` status).
    async fn change_run(&self, lease: &Lease, change: &RunChange) -> Result<(), StoreError>;
    /// Functions that have due work now, for the supervisor's poll.
    async fn due_functions(&self, now_ms: i64, stale_before_ms: i64) -> Result<Vec<String>, StoreError>;
    /// Records that this node is alive (its leases stay valid).
    async fn heartbeat(&self, node_id: &str, now_ms: i64) -> Result<(), StoreError>;
    /// Hands back every run this node holds (start-up after a crash, or shutdown): running → queued.
    async fn release_node(&self, node_id: &str, now_ms: i64) -> Result<u64, StoreError>;
}
