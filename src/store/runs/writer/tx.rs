//! Transactional steps in a group-committed batch ([`Write::Tx`]), in two tries.
//!
//! **First, optimistic:** every step's work runs in the batch's transaction, one after the other, then one
//! multi-row insert records all their completed attempts (each output the work's value), then the batch's plain
//! statements; everything commits at once. No savepoint and no insert per step: what almost every batch is. If a
//! step's work fails, its output is over budget, a completed attempt matches no row, or a statement is refused, the
//! whole transaction rolls back and the second try applies the batch; what the first learnt is kept — a failed
//! or missed step is not run again, its outcome stands ([`Fail`]).
//!
//! **Second, a savepoint per step:** each step's work runs in the batch's transaction inside a savepoint of its
//! own, followed by the guarded insert of its completed attempt. A step's own trouble stays in its savepoint: its work failing ([`TxDone::Failed`]), its output over the run's
//! budget (failed, fatally), its insert matching no row — the run is not ours any more, or the step is final
//! already ([`TxDone::Missed`]) — or the database refusing a value of its insert (its own `Err`, class kept). Each
//! rolls back to the savepoint: the step's writes vanish and the other steps of the batch commit. Only an outage
//! ([`Error::is_outage`]) fails the batch, as for plain writes, and every write of it then gets that error.
//!
//! On SQLite a batch with transactional steps runs on one blocking thread with its statements inline there
//! (`store::sqlite_calls::on_this_thread`): the work is async Diesel code written once for both backends, and it
//! costs one thread hop per batch, as a plain batch does, instead of one per statement.

use super::{Changed, Plan, RunKey, StepKey, TxDone, TxWrite, Write};
use crate::store::db::{Db, SqliteConn};
use crate::store::error::{Error, Result};
use crate::store::to_json_text;
use crate::store::tx_step::DbTx;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
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

/// The completed attempt, its output the work's value.
fn memo(t: &TxWrite, value: &serde_json::Value) -> Write {
    let mut step = (*t.step).clone();
    if let Write::Step { output, .. } = &mut step {
        *output = Some(to_json_text(value));
    }
    step
}

/// The completed attempt's insert, its output the work's value.
fn completed(t: &TxWrite, value: &serde_json::Value) -> Result<crate::store::sql::Stmt> {
    super::step_insert(memo(t, value))
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

/// Why the first try without savepoints (the optimistic half of `apply_with_steps!`) rolled back.
enum Fail {
    /// This step's work failed (its error, or a statement of its work refused): its outcome, known without
    /// running it again.
    Step(usize, Exit),
    /// These steps' completed attempts matched no row (the run is not ours any more, or the step is final).
    Missed(Vec<(String, String, i32)>),
    /// A statement of the batch itself failed.
    Db(diesel::result::Error),
    /// The completed attempts could not be planned together: the second try plans each on its own.
    Plan,
}

impl From<diesel::result::Error> for Fail {
    fn from(e: diesel::result::Error) -> Self {
        Fail::Db(e)
    }
}

/// An outage's error, to fail the whole batch; `None` for any other database error.
fn outage(e: diesel::result::Error) -> std::result::Result<Error, diesel::result::Error> {
    match Error::Query(e) {
        e if e.is_outage() => match e {
            Error::Query(e) => Err(e),
            _ => unreachable!("built as a query error above"),
        },
        e => Ok(e),
    }
}

/// Outcomes the first try already knows, by step: not run again in the second.
type Known = std::collections::HashMap<(String, String, i32), Result<TxDone>>;

/// What the first try came to: the batch committed; or it rolled back and the second try, with a savepoint per
/// step, starts from the outcomes it learnt (a failed or missed step is not run again); or an outage fails the
/// batch.
fn first_try(
    r: std::result::Result<Changed, Fail>,
    txs: &[&TxWrite],
) -> std::result::Result<std::result::Result<Changed, Known>, diesel::result::Error> {
    let mut known = Known::new();
    match r {
        Ok(changed) => return Ok(Ok(changed)),
        Err(Fail::Step(i, exit)) => {
            let done = match exit {
                Exit::Work(e) => Ok(TxDone::Failed(e)),
                Exit::Missed => Ok(TxDone::Missed),
                Exit::Db(e) => Err(outage(e)?),
            };
            known.insert(txs[i].key(), done);
        }
        Err(Fail::Missed(keys)) => {
            for k in keys {
                known.insert(k, Ok(TxDone::Missed));
            }
        }
        Err(Fail::Db(e)) => {
            outage(e)?;
        }
        Err(Fail::Plan) => {}
    }
    Ok(Err(known))
}

macro_rules! apply_with_steps {
    ($name:ident, $optimistic:ident, $plain:ident, $conn:ty, $db:ty, $backend:expr, $variant:ident) => {
        /// The batch's plain statements (step inserts, finishes, requeues) in the caller's transaction; the rows
        /// they changed go into `changed`.
        pub(super) async fn $plain(
            c: &mut $conn,
            plan: &Plan,
            changed: &mut Changed,
        ) -> std::result::Result<(), diesel::result::Error> {
            if let Some(s) = &plan.steps {
                for k in s.query::<$db>().load::<StepKey>(c).await? {
                    changed.steps.insert((k.run_id, k.step_key, k.attempt));
                }
            }
            for s in [&plan.finish, &plan.requeue].into_iter().flatten() {
                changed.runs.extend(
                    s.query::<$db>()
                        .load::<RunKey>(c)
                        .await?
                        .into_iter()
                        .map(|k| k.id),
                );
            }
            Ok(())
        }

        /// The batch in one transaction without savepoints, the steps' completed attempts in one multi-row insert:
        /// what almost every batch is (no step fails, every run is still ours). Anything else rolls the whole
        /// transaction back ([`first_try`]).
        async fn $optimistic(
            c: &mut $conn,
            plan: &Plan,
            txs: &[&TxWrite],
        ) -> std::result::Result<std::result::Result<Changed, Known>, diesel::result::Error> {
            let r = crate::write_tx!(c, Fail, async |c| {
                let mut values = Vec::with_capacity(txs.len());
                for (i, t) in txs.iter().enumerate() {
                    values.push(
                        work(t, &mut DbTx::$variant(&mut *c))
                            .await
                            .map_err(|e| Fail::Step(i, e))?,
                    );
                }
                let memos: Vec<Write> = txs.iter().zip(&values).map(|(t, v)| memo(t, v)).collect();
                let insert = super::plan(&memos).map_err(|_| Fail::Plan)?.steps;
                let mut changed = Changed::default();
                if let Some(s) = insert {
                    let written: std::collections::HashSet<(String, String, i32)> = s
                        .query::<$db>()
                        .load::<StepKey>(c)
                        .await?
                        .into_iter()
                        .map(|k| (k.run_id, k.step_key, k.attempt))
                        .collect();
                    let missed: Vec<_> = txs
                        .iter()
                        .map(|t| t.key())
                        .filter(|k| !written.contains(k))
                        .collect();
                    if !missed.is_empty() {
                        return Err(Fail::Missed(missed));
                    }
                }
                for (t, value) in txs.iter().zip(values) {
                    changed.tx.insert(t.key(), Ok(TxDone::Written(value)));
                }
                $plain(c, plan, &mut changed).await?;
                Ok(changed)
            })
            .await;
            first_try(r, txs)
        }

        async fn $name(
            c: &mut $conn,
            plan: &Plan,
            txs: &[&TxWrite],
        ) -> std::result::Result<Changed, diesel::result::Error> {
            let mut known = match $optimistic(c, plan, txs).await? {
                Ok(changed) => return Ok(changed),
                Err(known) => known,
            };
            crate::write_tx!(c, diesel::result::Error, async |c| {
                let mut changed = Changed::default();
                for t in txs {
                    if let Some(done) = known.remove(&t.key()) {
                        changed.tx.insert(t.key(), done);
                        continue;
                    }
                    let r = crate::write_tx!(c, Exit, async |c| {
                        let value = work(t, &mut DbTx::$variant(&mut *c)).await?;
                        let insert = completed(t, &value).map_err(|e| Exit::Work(StepError::fatal(e.to_string())))?;
                        match insert.query::<$db>().load::<StepKey>(c).await?.len() {
                            0 => Err(Exit::Missed),
                            _ => Ok(value),
                        }
                    })
                    .await;
                    changed.tx.insert(t.key(), outcome(r)?);
                }
                $plain(c, plan, &mut changed).await?;
                Ok(changed)
            })
            .await
        }
    };
}

apply_with_steps!(
    apply_sqlite,
    optimistic_sqlite,
    plain_sqlite,
    SqliteConn,
    diesel::sqlite::Sqlite,
    Backend::Sqlite,
    Sqlite
);
apply_with_steps!(
    apply_pg,
    optimistic_pg,
    plain_pg,
    AsyncPgConnection,
    diesel::pg::Pg,
    Backend::Postgres,
    Postgres
);

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

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind as Kind, Error as Diesel};
    use ingot_actors::run::state::StepStatus;
    use std::sync::Arc;

    fn tx(key: &str) -> TxWrite {
        TxWrite {
            step: Box::new(Write::Step {
                run_id: "r".into(),
                token: 1,
                key: key.into(),
                attempt: 0,
                position: 0,
                name: key.into(),
                status: StepStatus::Completed,
                output: None,
                error: None,
                started_at: 0,
                finished_at: 0,
                retry_at: None,
                kind: "run".into(),
                wake_at: None,
            }),
            earlier: Vec::new(),
            work: Arc::new(|_| Box::pin(async { Ok(serde_json::Value::Null) })),
            max_output_bytes: 1024,
        }
    }

    fn db_error(kind: Kind) -> Diesel {
        Diesel::DatabaseError(kind, Box::new("refused".to_string()))
    }

    fn key(k: &str) -> (String, String, i32) {
        ("r".into(), k.into(), 0)
    }

    /// The first try's decision table: what the second try starts from, or the outage that fails the batch.
    #[test]
    fn the_first_try_keeps_what_it_learnt_and_fails_the_batch_only_on_an_outage() {
        let (a, b) = (tx("a"), tx("b"));
        let txs = [&a, &b];
        assert!(matches!(first_try(Ok(Changed::default()), &txs), Ok(Ok(_))));

        let known = |r| match first_try(r, &txs) {
            Ok(Err(known)) => known,
            _ => panic!("expected a second try"),
        };
        // A step whose work failed: its failure stands, the other step runs again.
        let k = known(Err(Fail::Step(1, Exit::Work(StepError::fatal("no")))));
        assert_eq!(k.len(), 1);
        assert!(matches!(k.get(&key("b")), Some(Ok(TxDone::Failed(e))) if e.message() == "no"));
        // A statement of its work refused: that step's own error, class kept.
        let k = known(Err(Fail::Step(0, Exit::Db(db_error(Kind::UniqueViolation)))));
        assert!(matches!(k.get(&key("a")), Some(Err(e)) if !e.is_outage()));
        // Completed attempts that matched no row.
        let k = known(Err(Fail::Missed(vec![key("a")])));
        assert!(matches!(k.get(&key("a")), Some(Ok(TxDone::Missed))) && k.len() == 1);
        // A refused statement of the batch, or no plan: everything runs again, each step in its savepoint.
        assert!(known(Err(Fail::Db(db_error(Kind::CheckViolation)))).is_empty());
        assert!(known(Err(Fail::Plan)).is_empty());

        // An outage — in the batch's statements or in a step's work — fails the whole batch.
        for r in [
            Err(Fail::Db(db_error(Kind::ClosedConnection))),
            Err(Fail::Step(0, Exit::Db(db_error(Kind::UnableToSendCommand)))),
        ] {
            assert!(first_try(r, &txs).is_err());
        }
    }
}
