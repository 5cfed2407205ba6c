//! Event intake storage: the events of one request and the runs they start are written in one transaction, so an
//! acknowledged event always has its runs and a refused request leaves nothing behind.
//!
//! - A producer id (`id`) seen within 24 h marks the event `duplicate`: stored, but it starts no runs.
//! - A function's idempotency key seen within 24 h skips that function's run.
//!
//! Both windows are enforced by unique keys (`event_ids`, `idempotency_keys`), so concurrent requests and several
//! daemons agree. A request costs a handful of multi-row statements, however many events it carries.

use super::db::Db;
use super::error::{Error, Result};
use super::runs::admission;
use super::sql::{Param, Stmt, Tx};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::AsyncConnection;
use ingot_actors::event::NewEvent;
use ingot_actors::flow::SingletonMode;
use ingot_actors::function::IDEMPOTENCY_WINDOW_MS;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Default)]
pub struct Ingested {
    /// Functions that got new runs (to wake their pools).
    pub woken: Vec<String>,
    pub runs_created: usize,
}

#[derive(QueryableByName)]
struct ExternalId {
    #[diesel(sql_type = Text)]
    external_id: String,
}

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    function_id: String,
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Text)]
    run_id: String,
}

fn run_text(p: &Param) -> Option<String> {
    match p {
        Param::Text(t) => Some(t.clone()),
        _ => None,
    }
}

/// Rows per multi-row statement: well under SQLite's 32,766 bound parameters.
const CHUNK: usize = 1000;

/// Multi-row statements of at most [`CHUNK`] rows: `head` + `(…), (…)` + `tail`.
fn chunked(head: &str, rows: Vec<Vec<Param>>, tail: &str) -> Vec<Stmt> {
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut s = Stmt::new(head);
        s.push_values(rows.by_ref().take(CHUNK));
        s.push_sql(tail);
        out.push(s);
    }
    out
}

/// The first item for each key in this request; later ones are duplicates without asking the database.
fn first_by<T, K: std::hash::Hash + Eq>(items: impl Iterator<Item = T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut seen = HashSet::new();
    items.filter(|t| seen.insert(key(t))).collect()
}

/// Stores the events and starts their runs, atomically.
pub async fn ingest(db: &Db, batch: &[NewEvent], now_ms: i64) -> Result<Ingested> {
    crate::with_conn!(db, write, |c| {
        c.transaction::<_, Error, _>(async |tx| ingest_in(tx, batch, now_ms).await)
            .await
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
        c.transaction::<_, Error, _>(async |tx| {
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
    let expires = now_ms + IDEMPOTENCY_WINDOW_MS;
    // A claim succeeds for a new key or one whose window expired; RETURNING lists the claimed keys.
    let producer_ids: Vec<(String, String)> = first_by(
        batch
            .iter()
            .filter_map(|e| e.external_id.clone().map(|x| (x, e.id.clone()))),
        |(x, _)| x.clone(),
    );
    let claim_ids = chunked(
        "INSERT INTO event_ids (external_id, event_id, expires_at) VALUES ",
        producer_ids
            .iter()
            .map(|(x, id)| vec![Param::Text(x.clone()), Param::Text(id.clone()), Param::BigInt(expires)])
            .collect(),
        &format!(
            " ON CONFLICT (external_id) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at \
             WHERE event_ids.expires_at <= {now_ms} RETURNING external_id"
        ),
    );

    {
        {
            let mut claimed_ids = HashSet::new();
            for s in &claim_ids {
                claimed_ids.extend(tx.rows::<ExternalId>(s).await?.into_iter().map(|r| r.external_id));
            }
            // The event that claimed each producer id; every other event with that id is a duplicate.
            let owner: HashMap<&str, &str> = producer_ids
                .iter()
                .filter(|(x, _)| claimed_ids.contains(x))
                .map(|(x, id)| (x.as_str(), id.as_str()))
                .collect();
            let duplicate = |e: &NewEvent| {
                e.external_id
                    .as_deref()
                    .is_some_and(|x| owner.get(x) != Some(&e.id.as_str()))
            };

            // Idempotency keys of the runs the non-duplicate events would start.
            let mut planned = Vec::new();
            let mut skips = Vec::new();
            for e in batch {
                for m in &e.matches {
                    if duplicate(e) {
                        skips.push((e.id.clone(), m.function_id.clone(), "duplicate_event_id", None));
                    } else {
                        let run_id = m.run_id.clone().unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
                        planned.push((e, m, run_id));
                    }
                }
            }
            let keyed = first_by(
                planned.iter().filter_map(|(_, m, run_id)| {
                    m.idempotency_key
                        .clone()
                        .map(|k| (m.function_id.clone(), k, run_id.clone()))
                }),
                |(f, k, _)| (f.clone(), k.clone()),
            );
            let claim_keys = chunked(
                "INSERT INTO idempotency_keys (function_id, key, run_id, expires_at) VALUES ",
                keyed
                    .iter()
                    .map(|(f, k, r)| {
                        vec![
                            Param::Text(f.clone()),
                            Param::Text(k.clone()),
                            Param::Text(r.clone()),
                            Param::BigInt(expires),
                        ]
                    })
                    .collect(),
                &format!(
                    " ON CONFLICT (function_id, key) DO UPDATE SET run_id = excluded.run_id, expires_at = excluded.expires_at \
                     WHERE idempotency_keys.expires_at <= {now_ms} RETURNING function_id, key, run_id"
                ),
            );
            let mut key_owner: HashMap<(String, String), String> = HashMap::new();
            for s in &claim_keys {
                for r in tx.rows::<KeyRow>(s).await? {
                    key_owner.insert((r.function_id, r.key), r.run_id);
                }
            }
            // Singleton keys: concurrent intakes of the same keys take turns (PostgreSQL), so each sees the other's
            // runs before deciding.
            admission::lock_singletons(
                tx,
                planned
                    .iter()
                    .filter_map(|(_, m, _)| {
                        m.admission
                            .singleton
                            .as_ref()
                            .map(|(k, _)| (m.function_id.clone(), k.clone()))
                    })
                    .collect(),
            )
            .await?;
            // (function, singleton key) → the newest run created here holding it, and the mode.
            let mut singletons: HashMap<(String, String), (String, SingletonMode)> = HashMap::new();
            let mut runs = Vec::new();
            let mut woken = Vec::new();
            // Flow control: rate limits skip, debounce folds events into one pending run per key.
            let mut debounced: HashMap<(String, String), usize> = HashMap::new();
            let mut debounce_updates = Vec::new();
            let mut cancel_waits = Vec::new();
            // batch_events: (function, key) → (run id, events held, index of the planned run if new here).
            let mut batches: HashMap<(String, String), (String, u32, Option<usize>)> = HashMap::new();
            let mut batch_appends = Vec::new();
            let mut stored_batches: HashMap<String, (u32, bool)> = HashMap::new();
            for (e, m, run_id) in &planned {
                if let Some(key) = &m.idempotency_key {
                    let fk = (m.function_id.clone(), key.clone());
                    if key_owner.get(&fk) != Some(run_id) {
                        // Held by an earlier run (in this request or within 24 h): record which one.
                        let existing = match key_owner.get(&fk) {
                            Some(r) => Some(r.clone()),
                            None => {
                                let mut q = Stmt::new(
                                    "SELECT function_id, key, run_id FROM idempotency_keys WHERE function_id = $1 AND key = $2",
                                );
                                q.params = vec![Param::Text(fk.0.clone()), Param::Text(fk.1.clone())];
                                tx.rows::<KeyRow>(&q).await?.into_iter().next().map(|r| r.run_id)
                            }
                        };
                        skips.push((e.id.clone(), m.function_id.clone(), "idempotency_key", existing));
                        continue;
                    }
                }
                let a = &m.admission;
                if let Some((key, limit, period)) = &a.rate_limit
                    && !admission::admit_rate(tx, &m.function_id, key, *limit, *period, now_ms).await?
                {
                    skips.push((e.id.clone(), m.function_id.clone(), "rate_limit", None));
                    continue;
                }
                // A future `ts` delays the run's start, as in Inngest.
                let mut run_at = e.ts.max(now_ms);
                if let Some((key, period, timeout)) = &a.debounce {
                    let fk = (m.function_id.clone(), key.clone());
                    if let Some(&i) = debounced.get(&fk) {
                        // Same key earlier in this request: that planned run takes this (newer) event.
                        let row: &mut Vec<Param> = &mut runs[i];
                        if let Param::Text(old) = std::mem::replace(&mut row[2], Param::Text(e.id.clone())) {
                            skips.push((old, m.function_id.clone(), "debounced", run_text(&row[0])));
                        }
                        row[4] = Param::BigInt(admission::debounce_at(now_ms, now_ms, *period, *timeout));
                        continue;
                    }
                    if let Some((pending, old_event, created)) =
                        admission::pending_debounce(tx, &m.function_id, key).await?
                    {
                        let at = admission::debounce_at(created, now_ms, *period, *timeout);
                        skips.push((old_event, m.function_id.clone(), "debounced", Some(pending.clone())));
                        debounce_updates.push((pending, e.id.clone(), at));
                        continue;
                    }
                }
                // Singleton: a key held by an unfinished run (stored, or created earlier in this request) skips this
                // run (`skip`), or this run replaces the holder, cancelled after the inserts (`cancel`).
                if let Some((key, mode)) = &a.singleton {
                    let fk = (m.function_id.clone(), key.clone());
                    if *mode == SingletonMode::Skip {
                        let holder = match singletons.get(&fk) {
                            Some((run, _)) => Some(run.clone()),
                            None => admission::singleton_holder(tx, &m.function_id, key).await?,
                        };
                        if holder.is_some() {
                            skips.push((e.id.clone(), m.function_id.clone(), "singleton", holder));
                            continue;
                        }
                    }
                    singletons.insert(fk, (run_id.clone(), *mode));
                }
                if let Some((key, period, timeout)) = &a.debounce {
                    run_at = admission::debounce_at(now_ms, run_at, *period, *timeout);
                    debounced.insert((m.function_id.clone(), key.clone()), runs.len());
                }
                let mut batch = None;
                if let Some((key, max, timeout)) = &a.batch {
                    let fk = (m.function_id.clone(), key.clone());
                    if !batches.contains_key(&fk)
                        && let Some((run, size)) = admission::open_batch(tx, &m.function_id, key, *max).await?
                    {
                        batches.insert(fk.clone(), (run, size, None));
                    }
                    if let Some((run, size, planned)) = batches.get_mut(&fk).filter(|b| b.1 < *max) {
                        batch_appends.push((run.clone(), *size, e.id.clone()));
                        *size += 1;
                        let full = *size >= *max;
                        match planned {
                            Some(i) => {
                                runs[*i][15] = Param::Int(*size as i32);
                                if full {
                                    runs[*i][4] = Param::BigInt(now_ms);
                                }
                            }
                            None => {
                                stored_batches.insert(run.clone(), (*size, full));
                            }
                        }
                        skips.push((e.id.clone(), m.function_id.clone(), "batched", Some(run.clone())));
                        continue;
                    }
                    // A new batch, due at `timeout` (or now, for batches of one).
                    if *max > 1 {
                        run_at = run_at.max(now_ms + timeout);
                    }
                    batches.insert(fk, (run_id.clone(), 1, Some(runs.len())));
                    batch_appends.push((run_id.clone(), 0, e.id.clone()));
                    batch = Some(key.clone());
                }
                for (i, (event_name, expr, lifetime)) in a.cancel_on.iter().enumerate() {
                    cancel_waits.push(admission::CancelWait {
                        run_id: run_id.clone(),
                        index: i,
                        event_name: event_name.clone(),
                        expr: expr.clone(),
                        trigger_event: e.view().to_string(),
                        expires_at: now_ms + lifetime,
                    });
                }
                woken.push(m.function_id.clone());
                runs.push(vec![
                    Param::Text(run_id.clone()),
                    Param::Text(m.function_id.clone()),
                    Param::Text(e.id.clone()),
                    crate::store::runs::status::initial(),
                    Param::BigInt(run_at),
                    Param::NullText(m.idempotency_key.clone()),
                    Param::BigInt(now_ms),
                    Param::BigInt(now_ms),
                    Param::NullText(m.parent.as_ref().map(|p| p.0.clone())),
                    Param::NullText(m.parent.as_ref().map(|p| p.1.clone())),
                    Param::NullText(a.concurrency_key.clone()),
                    Param::NullText(a.throttle_key.clone()),
                    Param::BigInt(a.priority_ms),
                    Param::NullText(a.debounce.as_ref().map(|d| d.0.clone())),
                    Param::NullText(batch.clone()),
                    Param::Int(i32::from(batch.is_some())),
                    Param::NullText(a.singleton.as_ref().map(|s| s.0.clone())),
                ]);
            }
            let events = batch
                .iter()
                .map(|e| {
                    vec![
                        Param::Text(e.id.clone()),
                        Param::NullText(e.external_id.clone()),
                        Param::Text(e.name.clone()),
                        Param::Text(super::to_json_text(&e.data)),
                        Param::Text(super::to_json_text(&e.user)),
                        Param::BigInt(e.ts),
                        Param::NullText(e.v.clone()),
                        Param::BigInt(now_ms),
                        Param::Bool(duplicate(e)),
                    ]
                })
                .collect();
            woken.sort();
            woken.dedup();
            let runs_created = runs.len();
            let skip_rows = skips
                .into_iter()
                .map(|(event_id, function_id, reason, existing)| {
                    vec![
                        Param::Text(event_id),
                        Param::Text(function_id),
                        Param::Text(reason.into()),
                        Param::NullText(existing),
                    ]
                })
                .collect();
            let inserts = [
                chunked(
                    "INSERT INTO events (id, external_id, name, data, user_data, ts, v, received_at, duplicate) VALUES ",
                    events,
                    "",
                ),
                chunked(
                    "INSERT INTO runs (id, function_id, event_id, status, run_at, idempotency_key, created_at, updated_at, \
                     parent_run_id, parent_step_key, concurrency_key, throttle_key, priority, debounce_key, batch_key, \
                     batch_size, singleton_key) VALUES ",
                    runs,
                    "",
                ),
                chunked(
                    "INSERT INTO run_skips (event_id, function_id, reason, existing_run_id) VALUES ",
                    skip_rows,
                    "",
                ),
            ];
            for s in inserts.iter().flatten() {
                tx.exec(s).await?;
            }
            // After the events exist (the runs' foreign keys point at them).
            for (run, event, at) in debounce_updates {
                admission::debounce_run(tx, &run, &event, at, now_ms).await?;
            }
            admission::insert_cancel_waits(tx, cancel_waits, now_ms).await?;
            // Singleton `cancel`: the newest run of each key replaces the unfinished ones (after its insert, so the
            // cancelled runs' events and the new run are all stored).
            for ((function_id, key), (newest, mode)) in &singletons {
                if *mode == SingletonMode::Cancel {
                    let cancelled = admission::cancel_singleton_holders(tx, function_id, key, newest, now_ms).await?;
                    woken.extend(cancelled.into_iter().map(|r| r.function_id));
                }
            }
            let stored: Vec<(String, u32, bool)> =
                stored_batches.into_iter().map(|(r, (n, full))| (r, n, full)).collect();
            admission::grow_batches(tx, batch_appends, stored, now_ms).await?;
            let fresh: Vec<&NewEvent> = batch.iter().filter(|e| !duplicate(e)).collect();
            woken.extend(super::runs::waits::match_waits(tx, &fresh, now_ms).await?);
            woken.sort();
            woken.dedup();
            Ok(Ingested { woken, runs_created })
        }
    }
}
