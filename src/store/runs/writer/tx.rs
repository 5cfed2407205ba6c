//! Transactional steps in a group-committed batch ([`Write::Tx`]): each step's work runs in the batch's
//! transaction inside a savepoint of its own, followed by the guarded insert of its completed attempt, whose output
//! is the work's value. Then the batch's plain statements run, and everything commits at once.
//!
//! A step's own trouble stays in its savepoint: its work failing ([`TxDone::Failed`]), its output over the run's
//! budget (failed, fatally), its insert matching no row — the run is not ours any more, or the step is final
//! already ([`TxDone::Missed`]) — or the database refusing a value of its insert (its own `Err`, class kept). Each
//! rolls back to the savepoint: the step's writes vanish and the other steps of the batch commit. Only an outage
//! ([`Error::is_outage`]) fails the batch, as for plain writes, and every write of it then gets that error.
//!
//! On SQLite a batch with transactional steps runs on one blocking thread with its statements inline there
//! (`store::sqlite_calls::on_this_thread`): the work is async Diesel code written once for both backends, and it
//! costs one thread hop per batch, as a plain batch does, instead of one per statement.

use super::{Changed, Plan, RunKey, StepKey, TxDone, TxWrite, Write};
use crate::store::db::{Backend, Db, SqliteConn};
use crate::store::error::{Error, Result};
use crate::store::to_json_text;
use crate::store::tx_step::DbTx;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::FutureExt;
use ingot_actors::StepError;
use std::panic::AssertUnwindSafe;

/// Why a step's savepoint was rolled back.
enum Exit {
    Work(StepError),
    Missed,
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for Exit {
    fn from(e: diesel::result::Error) -> Self {
        Exit::Db(e)
    }
}

/// The completed attempt's insert, its output the work's value.
fn completed(t: &TxWrite, value: &serde_json::Value) -> Result<crate::store::sql::Stmt> {
    let mut step = (*t.step).clone();
    if let Write::Step { output, .. } = &mut step {
        *output = Some(to_json_text(value));
    }
    super::step_insert(step)
}

/// The work's value, checked against the output budget; a panic is a retryable failure, as in `Step::run`.
async fn work(t: &TxWrite, tx: &mut DbTx<'_>) -> std::result::Result<serde_json::Value, Exit> {
    let value = AssertUnwindSafe((t.work)(tx))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(StepError::retryable("step panicked")))
        .map_err(Exit::Work)?;
    let bytes = to_json_text(&value).len();
    if bytes > t.max_output_bytes {
        return Err(Exit::Work(StepError::fatal(format!(
            "the step's output ({bytes} bytes) would exceed the run's state limit"
        ))));
    }
    Ok(value)
}

/// What a step's savepoint came to: its outcome, or — an outage — the error that fails the whole batch.
fn outcome(
    r: std::result::Result<serde_json::Value, Exit>,
) -> std::result::Result<Result<TxDone>, diesel::result::Error> {
    match r {
        Ok(value) => Ok(Ok(TxDone::Written(value))),
        Err(Exit::Work(e)) => Ok(Ok(TxDone::Failed(e))),
        Err(Exit::Missed) => Ok(Ok(TxDone::Missed)),
        Err(Exit::Db(e)) => match Error::Query(e) {
            e if e.is_outage() => match e {
                Error::Query(e) => Err(e),
                _ => unreachable!("built as a query error above"),
            },
            e => Ok(Err(e)),
        },
    }
}

macro_rules! apply_with_steps {
    ($name:ident, $conn:ty, $db:ty, $backend:expr, $variant:ident) => {
        async fn $name(
            c: &mut $conn,
            plan: &Plan,
            txs: &[&TxWrite],
        ) -> std::result::Result<Changed, diesel::result::Error> {
            c.transaction::<_, diesel::result::Error, _>(async |c| {
                let mut changed = Changed::default();
                for t in txs {
                    let r = c
                        .transaction::<_, Exit, _>(async |c| {
                            let value = work(t, &mut DbTx::$variant(&mut *c)).await?;
                            let insert =
                                completed(t, &value).map_err(|e| Exit::Work(StepError::fatal(e.to_string())))?;
                            match insert.query::<$db>($backend).load::<StepKey>(c).await?.len() {
                                0 => Err(Exit::Missed),
                                _ => Ok(value),
                            }
                        })
                        .await;
                    changed.tx.insert(t.key(), outcome(r)?);
                }
                if let Some(s) = &plan.steps {
                    for k in s.query::<$db>($backend).load::<StepKey>(c).await? {
                        changed.steps.insert((k.run_id, k.step_key, k.attempt));
                    }
                }
                for s in [&plan.finish, &plan.requeue].into_iter().flatten() {
                    changed.runs.extend(
                        s.query::<$db>($backend)
                            .load::<RunKey>(c)
                            .await?
                            .into_iter()
                            .map(|k| k.id),
                    );
                }
                Ok(changed)
            })
            .await
        }
    };
}

apply_with_steps!(
    apply_sqlite,
    SqliteConn,
    diesel::sqlite::Sqlite,
    Backend::Sqlite,
    Sqlite
);
apply_with_steps!(apply_pg, AsyncPgConnection, diesel::pg::Pg, Backend::Postgres, Postgres);

/// One transaction for a batch that holds transactional steps.
pub(super) async fn apply(db: &Db, plan: Plan, txs: &[&TxWrite]) -> Result<Changed> {
    match db {
        Db::Sqlite { write, .. } => {
            let mut conn = write.get().await.map_err(Error::pool)?;
            // The whole batch on one blocking thread, its statements inline there (`sqlite_calls`).
            let txs: Vec<TxWrite> = txs.iter().map(|t| (*t).clone()).collect();
            crate::store::sqlite_calls::on_this_thread(async move {
                let txs: Vec<&TxWrite> = txs.iter().collect();
                apply_sqlite(&mut conn, &plan, &txs).await
            })
            .await
            .map_err(|e| Error::Pool(format!("the writer's SQLite thread failed: {e}")))?
            .map_err(Error::from)
        }
        Db::Postgres { pool, .. } => {
            let mut conn = pool.get().await.map_err(Error::pool)?;
            Ok(apply_pg(&mut conn, &plan, txs).await?)
        }
    }
}
