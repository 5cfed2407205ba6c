//! Event intake storage: the events of one request and the runs they start are written in one transaction, so an
//! acknowledged event always has its runs and a refused request leaves nothing behind. Every producer's events
//! arrive here prepared ([`ingot_actors::event::prepare`]: validated, matched, with their admission keys).
//!
//! - A producer id (`id`) seen within 24 h marks the event `duplicate`: stored, but it starts no runs.
//! - A function's idempotency key seen within 24 h skips that function's run.
//!
//! Both windows are enforced by unique keys (`event_ids`, `idempotency_keys`), so concurrent requests and several
//! daemons agree. [`ingest_in`] is plan → apply: the claims and reads gather the facts ([`apply`]), a pure
//! function decides the rows ([`plan`]), and a handful of multi-row statements write them, however many events
//! the request carries. Then the events resolve the waits they match ([`super::runs::waits`]).

pub mod apply;
pub mod group;
pub mod plan;
#[cfg(test)]
mod tests;

use super::db::Db;
use super::error::{Error, Result};
use super::runs::admission;
use super::sql::{Stmt, Tx};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use ingot_actors::event::NewEvent;
use plan::Facts;

#[derive(Debug, Default, Clone)]
pub struct Ingested {
    /// Functions that got new runs (to wake their pools).
    pub woken: Vec<String>,
    /// Runs started (by the whole group, for a request stored in a group: [`group`]).
    pub runs_created: usize,
}

/// Stores the events and starts their runs, atomically.
pub async fn ingest(db: &Db, batch: &[NewEvent], now_ms: i64) -> Result<Ingested> {
    crate::with_conn!(db, write, |c| {
        crate::write_tx!(c, Error, async |tx| ingest_in(tx, batch, now_ms).await).await
    })
}

#[derive(QueryableByName)]
struct RecordedRow {
    #[diesel(sql_type = Text)]
    id: String,
}

/// [`ingest`] behind a record of the delivery, in the same transaction: `prepare` runs first, then `record` (an
/// `INSERT … ON CONFLICT DO NOTHING RETURNING id`). When `record` returns no row the delivery was recorded before:
/// nothing else is stored and the answer is `None` (a provider's redelivery starts nothing, however late). A
/// delivery that maps to no event (`batch` empty) is still recorded.
pub async fn ingest_once(
    db: &Db,
    prepare: &[Stmt],
    record: &Stmt,
    batch: &[NewEvent],
    now_ms: i64,
) -> Result<Option<Ingested>> {
    crate::with_conn!(db, write, |c| {
        crate::write_tx!(c, Error, async |tx| {
            for s in prepare {
                tx.exec(s).await?;
            }
            let recorded: Vec<RecordedRow> = tx.rows(record).await?;
            if recorded.is_empty() {
                return Ok(None);
            }
            debug_assert!(recorded.iter().all(|r| !r.id.is_empty()));
            if batch.is_empty() {
                return Ok(Some(Ingested::default()));
            }
            ingest_in(tx, batch, now_ms).await.map(Some)
        })
        .await
    })
}

/// [`ingest`] inside the caller's transaction (a run emitting events writes them with its own step or outcome).
/// Also resolves the waits and cancellations the new events match ([`super::runs::waits`]).
pub async fn ingest_in<T: Tx>(tx: &mut T, batch: &[NewEvent], now_ms: i64) -> Result<Ingested> {
    // Producer ids: the first event of each claims it; the others, and those seen within 24 h, are duplicates.
    let producer_ids = plan::producer_ids(batch);
    let claimed = apply::claim_producer_ids(tx, &producer_ids, now_ms).await?;
    let duplicate = plan::duplicates(batch, &producer_ids, &claimed);
    let candidates = plan::candidates(batch, &duplicate, || uuid::Uuid::now_v7().to_string());
    let mut facts = Facts {
        key_owners: apply::claim_idempotency_keys(tx, &plan::idempotency_claims(&candidates), now_ms).await?,
        ..Facts::default()
    };
    facts.rate_prior = apply::count_rates(tx, &plan::rate_counts(&candidates, &facts.key_owners), now_ms).await?;
    // Singleton keys: concurrent intakes of the same keys take turns (PostgreSQL), so each sees the other's runs
    // before deciding.
    let singleton_keys = candidates
        .iter()
        .filter_map(|c| {
            c.m.admission
                .singleton
                .as_ref()
                .map(|(k, _)| (c.m.function_id.clone(), k.clone()))
        })
        .collect();
    admission::lock_singletons(tx, singleton_keys).await?;
    apply::read_keys(tx, &plan::lookups(&candidates, &facts.key_owners), &mut facts).await?;
    let plan = plan::plan(batch, &duplicate, &candidates, &facts, now_ms);
    let runs_created = plan.runs.len();
    let mut woken = plan.woken.clone();
    woken.extend(apply::write(tx, batch, &duplicate, plan, now_ms).await?);
    let fresh: Vec<&NewEvent> = batch
        .iter()
        .zip(&duplicate)
        .filter(|(_, d)| !**d)
        .map(|(e, _)| e)
        .collect();
    woken.extend(super::runs::waits::match_waits(tx, &fresh, now_ms).await?);
    woken.sort();
    woken.dedup();
    Ok(Ingested { woken, runs_created })
}
