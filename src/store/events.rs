//! Event intake storage: the events of one request and the runs they start are written in one transaction, so an
//! acknowledged event always has its runs and a refused request leaves nothing behind.
//!
//! - A producer id (`id`) seen within 24 h marks the event `duplicate`: stored, but it starts no runs.
//! - A function's idempotency key seen within 24 h skips that function's run.
//!
//! Both windows are enforced by unique keys (`event_ids`, `idempotency_keys`), so concurrent requests and several
//! daemons agree.

use super::db::Db;
use super::error::{Error, Result};
use super::schema::{events, run_skips, runs};
use super::{sql_for, to_json_text};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};
use ingot_actors::function::{IDEMPOTENCY_WINDOW_MS, Match};
use ingot_actors::run::state::RunStatus;

/// A validated event with the functions it matched.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub external_id: Option<String>,
    pub name: String,
    pub data: serde_json::Value,
    pub user: serde_json::Value,
    pub ts: i64,
    pub v: Option<String>,
    pub matches: Vec<Match>,
}

#[derive(Debug, Default)]
pub struct Ingested {
    /// Functions that got new runs (to wake their pools).
    pub woken: Vec<String>,
    pub runs_created: usize,
}

#[derive(Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
struct EventRow<'a> {
    id: &'a str,
    external_id: Option<&'a str>,
    name: &'a str,
    data: String,
    user_data: String,
    ts: i64,
    v: Option<&'a str>,
    received_at: i64,
    duplicate: bool,
}

#[derive(Insertable)]
#[diesel(table_name = runs, treat_none_as_default_value = false)]
struct RunRow {
    id: String,
    function_id: String,
    event_id: String,
    status: &'static str,
    attempt: i32,
    run_at: i64,
    lease_token: i64,
    idempotency_key: Option<String>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = run_skips, treat_none_as_default_value = false)]
struct SkipRow {
    event_id: String,
    function_id: String,
    reason: &'static str,
    existing_run_id: Option<String>,
}

#[derive(QueryableByName)]
struct RunIdRow {
    #[diesel(sql_type = Text)]
    run_id: String,
}

/// Stores the events and starts their runs, atomically.
pub async fn ingest(db: &Db, batch: &[NewEvent], now_ms: i64) -> Result<Ingested> {
    let backend = db.backend();
    // Claim a producer id if it is new or its window expired; 0 rows means a duplicate within 24 h.
    let claim_event_id = sql_for(
        backend,
        "INSERT INTO event_ids (external_id, event_id, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (external_id) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at \
         WHERE event_ids.expires_at <= $4",
    );
    let claim_key = sql_for(
        backend,
        "INSERT INTO idempotency_keys (function_id, key, run_id, expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (function_id, key) DO UPDATE SET run_id = excluded.run_id, expires_at = excluded.expires_at \
         WHERE idempotency_keys.expires_at <= $5",
    );
    let existing_key = sql_for(
        backend,
        "SELECT run_id FROM idempotency_keys WHERE function_id = $1 AND key = $2",
    );
    let expires = now_ms + IDEMPOTENCY_WINDOW_MS;

    crate::with_conn!(db, write, |c| {
        c.transaction::<_, Error, _>(async |tx| {
            let mut event_rows = Vec::with_capacity(batch.len());
            let mut run_rows = Vec::new();
            let mut skips = Vec::new();
            for e in batch {
                let duplicate = match &e.external_id {
                    Some(ext) => {
                        diesel::sql_query(claim_event_id.as_str())
                            .bind::<Text, _>(ext)
                            .bind::<Text, _>(&e.id)
                            .bind::<BigInt, _>(expires)
                            .bind::<BigInt, _>(now_ms)
                            .execute(tx)
                            .await?
                            == 0
                    }
                    None => false,
                };
                event_rows.push(EventRow {
                    id: &e.id,
                    external_id: e.external_id.as_deref(),
                    name: &e.name,
                    data: to_json_text(&e.data),
                    user_data: to_json_text(&e.user),
                    ts: e.ts,
                    v: e.v.as_deref(),
                    received_at: now_ms,
                    duplicate,
                });
                for m in &e.matches {
                    if duplicate {
                        skips.push(SkipRow {
                            event_id: e.id.clone(),
                            function_id: m.function_id.clone(),
                            reason: "duplicate_event_id",
                            existing_run_id: None,
                        });
                        continue;
                    }
                    let run_id = uuid::Uuid::now_v7().to_string();
                    if let Some(key) = &m.idempotency_key {
                        let claimed = diesel::sql_query(claim_key.as_str())
                            .bind::<Text, _>(&m.function_id)
                            .bind::<Text, _>(key)
                            .bind::<Text, _>(&run_id)
                            .bind::<BigInt, _>(expires)
                            .bind::<BigInt, _>(now_ms)
                            .execute(tx)
                            .await?;
                        if claimed == 0 {
                            let existing: Vec<RunIdRow> = diesel::sql_query(existing_key.as_str())
                                .bind::<Text, _>(&m.function_id)
                                .bind::<Text, _>(key)
                                .load(tx)
                                .await?;
                            skips.push(SkipRow {
                                event_id: e.id.clone(),
                                function_id: m.function_id.clone(),
                                reason: "idempotency_key",
                                existing_run_id: existing.into_iter().next().map(|r| r.run_id),
                            });
                            continue;
                        }
                    }
                    run_rows.push(RunRow {
                        id: run_id,
                        function_id: m.function_id.clone(),
                        event_id: e.id.clone(),
                        status: RunStatus::Queued.as_str(),
                        attempt: 0,
                        // A future `ts` delays the run's start, as in Inngest.
                        run_at: e.ts.max(now_ms),
                        lease_token: 0,
                        idempotency_key: m.idempotency_key.clone(),
                        created_at: now_ms,
                        updated_at: now_ms,
                    });
                }
            }
            // One row per statement: diesel-async has no multi-row INSERT for SQLite. Inside one transaction
            // this costs no extra commit.
            for row in &event_rows {
                diesel::insert_into(events::table).values(row).execute(tx).await?;
            }
            for row in &run_rows {
                diesel::insert_into(runs::table).values(row).execute(tx).await?;
            }
            for row in &skips {
                diesel::insert_into(run_skips::table).values(row).execute(tx).await?;
            }
            let mut woken: Vec<String> = run_rows.iter().map(|r| r.function_id.clone()).collect();
            woken.sort();
            woken.dedup();
            Ok(Ingested {
                woken,
                runs_created: run_rows.len(),
            })
        })
        .await
    })
}
