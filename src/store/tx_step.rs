//! Transactional steps for the workflows: a step whose work is database writes runs inside the transaction that
//! records its completed attempt, so its writes and its memo commit together or not at all (exactly-once database
//! effects, and no commit of its own). The runtime's side is `Step::run_tx` (it knows nothing of SQL); this module
//! builds the work it carries ([`TxFn`] inside a `TxWork`) and [`DbTx`], the transaction the work receives.
//!
//! ```ignore
//! let uid = user_id.clone();
//! let created: bool = tx_step::run(&ctx.step, "create user role", move |tx| {
//!     let uid = uid.clone();
//!     Box::pin(async move { users::assign_role_in(tx, &uid, "role").await.retryable() })
//! })
//! .await?;
//! ```
//!
//! The group-commit writer ([`super::runs::writer`]) runs the work of many runs' steps in one transaction, each
//! inside its own savepoint: a step whose work fails (or whose run is no longer ours) rolls back to its savepoint
//! and the others commit. The work is `Fn`, not `FnOnce`: a batch that failed for another write's sake is applied
//! again in halves, and the work then runs again in the new transaction (the first one rolled back entirely).
//!
//! Rules for the work: use only the [`DbTx`] it is given — never the [`super::Db`] handle (on SQLite the writer
//! holds the one write connection, so a write through the handle would wait for itself) — and keep it short and
//! free of anything but SQL: other runs' steps wait for the batch's commit. Classify errors as any step does
//! ([`ingot_actors::ResultExt`], or [`classify`] for a [`super::Error`]: a data error is fatal, the rest retryable).

use super::db::SqliteConn;
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;
use ingot_actors::store::TxWork;
use ingot_actors::{FnError, Step, StepError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;

/// The transaction a transactional step's work runs in: the writer's batch transaction, inside the step's own
/// savepoint. Use [`with_tx!`](crate::with_tx) to run one piece of Diesel code against either backend. A plain
/// pooled connection converts too (`DbTx::from(c)` inside [`with_conn!`](crate::with_conn)), so one query function
/// over a `DbTx` serves both a transactional step and the [`super::Db`] handle's callers.
pub enum DbTx<'c> {
    Sqlite(&'c mut SqliteConn),
    Postgres(&'c mut AsyncPgConnection),
}

impl<'c> From<&'c mut SqliteConn> for DbTx<'c> {
    fn from(c: &'c mut SqliteConn) -> Self {
        DbTx::Sqlite(c)
    }
}

impl<'c> From<&'c mut AsyncPgConnection> for DbTx<'c> {
    fn from(c: &'c mut AsyncPgConnection) -> Self {
        DbTx::Postgres(c)
    }
}

/// The work as the writer runs it: its output as JSON, or the step's error.
pub type TxFn = Arc<dyn for<'c, 't> Fn(&'c mut DbTx<'t>) -> BoxFuture<'c, Result<Value, StepError>> + Send + Sync>;

/// Runs `work` as the transactional step `name` of this run (see the module docs); returns its output, or its
/// stored output when the step completed before (it does not run again).
pub async fn run<T, F>(step: &Step, name: &str, work: F) -> Result<T, FnError>
where
    T: Serialize + DeserializeOwned + 'static,
    F: for<'c, 't> Fn(&'c mut DbTx<'t>) -> BoxFuture<'c, Result<T, StepError>> + Send + Sync + 'static,
{
    step.run_tx(name, work_of(work)).await
}

/// [`run`] with the step's own retry count and backoff.
pub async fn run_with<T, F>(step: &Step, name: &str, options: ingot_actors::StepOptions, work: F) -> Result<T, FnError>
where
    T: Serialize + DeserializeOwned + 'static,
    F: for<'c, 't> Fn(&'c mut DbTx<'t>) -> BoxFuture<'c, Result<T, StepError>> + Send + Sync + 'static,
{
    step.run_tx_with(name, options, work_of(work)).await
}

/// Runs `work` as the read step `name` of this run (`Step::run_read`): a lookup in a read-only transaction —
/// a write fails — whose completed attempt goes with the run's next write (the next transactional step's
/// transaction, or the run's finish) instead of a commit of its own. Returns its output, or its stored output
/// when the step completed before.
pub async fn read<T, F>(step: &Step, name: &str, work: F) -> Result<T, FnError>
where
    T: Serialize + DeserializeOwned + 'static,
    F: for<'c, 't> Fn(&'c mut DbTx<'t>) -> BoxFuture<'c, Result<T, StepError>> + Send + Sync + 'static,
{
    step.run_read(name, work_of(work)).await
}

/// The opaque work the runtime carries to the store: a [`TxFn`].
pub fn work_of<T, F>(work: F) -> TxWork
where
    T: Serialize + 'static,
    F: for<'c, 't> Fn(&'c mut DbTx<'t>) -> BoxFuture<'c, Result<T, StepError>> + Send + Sync + 'static,
{
    TxWork(Box::new(tx_fn(work)))
}

/// The work as the writer runs it: its value serialized to JSON.
pub fn tx_fn<T, F>(work: F) -> TxFn
where
    T: Serialize + 'static,
    F: for<'c, 't> Fn(&'c mut DbTx<'t>) -> BoxFuture<'c, Result<T, StepError>> + Send + Sync + 'static,
{
    Arc::new(move |tx| {
        let fut = work(tx);
        Box::pin(async move {
            let v = fut.await?;
            serde_json::to_value(v).map_err(|e| StepError::fatal(format!("step output is not JSON: {e}")))
        })
    })
}

/// A storage error as a step error: a data error (a value the database refuses, bad stored data) is fatal —
/// the same statement fails the same way again — and anything else retryable.
pub fn classify(e: super::Error) -> StepError {
    if e.is_retryable() {
        StepError::retryable(e.to_string())
    } else {
        StepError::fatal(e.to_string())
    }
}

/// Runs one piece of Diesel code against a [`DbTx`]'s connection, whichever the backend (the body is compiled
/// for both, as with [`with_conn!`](crate::with_conn)).
#[macro_export]
macro_rules! with_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::store::tx_step::DbTx::Sqlite($conn) => {
                let $conn: &mut $crate::store::db::SqliteConn = &mut **$conn;
                $body
            }
            $crate::store::tx_step::DbTx::Postgres($conn) => {
                let $conn: &mut ::diesel_async::AsyncPgConnection = &mut **$conn;
                $body
            }
        }
    };
}
