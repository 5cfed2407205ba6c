//! Read steps (`Step::run_read`, built with [`crate::store::tx_step::read`]): the work runs on a read connection
//! in a read-only transaction and nothing is recorded here — the step tool defers the completed attempt to the
//! run's next write, so a read step costs no commit of its own.
//!
//! Read-only is enforced, not trusted: PostgreSQL's `READ ONLY` transaction refuses a write (SQLSTATE 25006), and
//! SQLite's read pool is `query_only` (`store::db`). The transaction is rolled back either way.

use crate::store::db::{Db, SqliteConn};
use crate::store::error::{Error, Result};
use crate::store::tx_step::{DbTx, TxFn};
use diesel_async::AsyncConnection;
use futures_util::FutureExt;
use ingot_actors::StepError;
use ingot_actors::store::TxWork;
use serde_json::Value;
use std::panic::AssertUnwindSafe;

/// Why the read transaction ends in a rollback: always — with the work's outcome, or a statement's error.
enum End {
    Done(std::result::Result<Value, StepError>),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for End {
    fn from(e: diesel::result::Error) -> Self {
        End::Db(e)
    }
}

/// The work's outcome; a panic is a retryable failure, as in `Step::run`.
async fn outcome(work: &TxFn, tx: &mut DbTx<'_>) -> std::result::Result<Value, StepError> {
    AssertUnwindSafe(work(tx))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(StepError::retryable("step panicked")))
}

/// What the transaction came to: its closure always fails, so it always rolls back — with the work's outcome, or
/// a statement's error.
fn ended(r: std::result::Result<(), End>) -> Result<std::result::Result<Value, StepError>> {
    match r {
        Err(End::Done(r)) => Ok(r),
        Err(End::Db(e)) => Err(Error::from(e)),
        Ok(()) => unreachable!("the closure always ends in a rollback"),
    }
}

/// Runs a read step's work (see the module docs). The outer error is the store's, the inner the work's.
pub(super) async fn run(db: &Db, work: TxWork) -> Result<std::result::Result<Value, StepError>> {
    let Ok(work) = work.0.downcast::<TxFn>() else {
        return Err(Error::Data(
            "a read step's work was not built by crate::store::tx_step".into(),
        ));
    };
    match db {
        Db::Sqlite { read, deadline, .. } => {
            let conn = tokio::time::timeout(*deadline, read.get())
                .await
                .map_err(|_| Error::Timeout(*deadline))?
                .map_err(Error::pool)?;
            // The statements inline on one blocking thread: one hop, as the writer's batches. The read pool's
            // connections are `query_only` (`db.rs`).
            crate::store::sqlite_calls::on_this_thread(async move {
                let mut conn = conn;
                let c: &mut SqliteConn = &mut conn;
                ended(
                    c.transaction::<(), End, _>(async |c| Err(End::Done(outcome(&work, &mut DbTx::Sqlite(c)).await)))
                        .await,
                )
            })
            .await
            .map_err(|e| Error::Pool(format!("a read step's SQLite thread failed: {e}")))?
        }
        Db::Postgres { pool, deadline, .. } => {
            let mut conn = tokio::time::timeout(*deadline, pool.get())
                .await
                .map_err(|_| Error::Timeout(*deadline))?
                .map_err(Error::pool)?;
            ended(
                conn.build_transaction()
                    .read_only()
                    .run::<(), End, _>(async |c| Err(End::Done(outcome(&work, &mut DbTx::Postgres(c)).await)))
                    .await,
            )
        }
    }
}
