//! The intake's statements: the claims and reads that gather the [`Facts`](super::plan::Facts), and the multi-row writes of a
//! [`Plan`]. No decisions here (they are in [`super::plan`]).

use super::plan::{FnKey, Pending, Plan};
use crate::store::error::Result;
use crate::store::runs::admission;
use crate::store::sql::{Param, Stmt, Tx};
use crate::store::to_json_text;
use diesel::QueryableByName;
use diesel::sql_types::Text;
use ingot_actors::event::NewEvent;
use ingot_actors::function::IDEMPOTENCY_WINDOW_MS;
use std::collections::{HashMap, HashSet};

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

/// Claims the producer ids (new, or whose 24 h window expired); returns the ones claimed.
pub async fn claim_producer_ids<T: Tx>(tx: &mut T, ids: &[(String, String)], now_ms: i64) -> Result<HashSet<String>> {
    let expires = now_ms + IDEMPOTENCY_WINDOW_MS;
    let claims = chunked(
        "INSERT INTO event_ids (external_id, event_id, expires_at) VALUES ",
        ids.iter()
            .map(|(x, id)| vec![Param::Text(x.clone()), Param::Text(id.clone()), Param::BigInt(expires)])
            .collect(),
        &format!(
            " ON CONFLICT (external_id) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at \
             WHERE event_ids.expires_at <= excluded.expires_at - {IDEMPOTENCY_WINDOW_MS} RETURNING external_id"
        ),
    );
    let mut claimed = HashSet::new();
    for s in &claims {
        claimed.extend(tx.rows::<ExternalId>(s).await?.into_iter().map(|r| r.external_id));
    }
    Ok(claimed)
}

/// Claims idempotency keys for the given runs, then looks up the holders of the keys held before: every key's
/// owner.
pub async fn claim_idempotency_keys<T: Tx>(
    tx: &mut T,
    keyed: &[(String, String, String)],
    now_ms: i64,
) -> Result<HashMap<FnKey, String>> {
    let expires = now_ms + IDEMPOTENCY_WINDOW_MS;
    let claims = chunked(
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
             WHERE idempotency_keys.expires_at <= excluded.expires_at - {IDEMPOTENCY_WINDOW_MS} \
             RETURNING function_id, key, run_id"
        ),
    );
    let mut owners = HashMap::new();
    for s in &claims {
        for r in tx.rows::<KeyRow>(s).await? {
            owners.insert((r.function_id, r.key), r.run_id);
        }
    }
    for (f, k, _) in keyed {
        let fk = (f.clone(), k.clone());
        if owners.contains_key(&fk) {
            continue;
        }
        let mut q =
            Stmt::new("SELECT function_id, key, run_id FROM idempotency_keys WHERE function_id = $1 AND key = $2");
        q.params = vec![Param::Text(f.clone()), Param::Text(k.clone())];
        if let Some(r) = tx.rows::<KeyRow>(&q).await?.into_iter().next() {
            owners.insert(fk, r.run_id);
        }
    }
    Ok(owners)
}

/// Counts each window's events (per (function, key): period, how many); returns the count before this intake's.
pub async fn count_rates<T: Tx>(tx: &mut T, counts: &[(FnKey, i64, i64)], now_ms: i64) -> Result<HashMap<FnKey, i64>> {
    let mut prior = HashMap::new();
    for ((f, k), period, n) in counts {
        let after = admission::count_rate(tx, f, k, *n, *period, now_ms).await?;
        prior.insert((f.clone(), k.clone()), after - n);
    }
    Ok(prior)
}

/// The stored state of the keys the plan looks at: pending debounced runs, singleton holders, open batches.
pub async fn read_keys<T: Tx>(tx: &mut T, l: &super::plan::Lookups, facts: &mut super::plan::Facts) -> Result<()> {
    for (f, k) in &l.debounce {
        if let Some((run_id, event_id, created_at)) = admission::pending_debounce(tx, f, k).await? {
            let pending = Pending {
                run_id,
                event_id,
                created_at,
            };
            facts.pending_debounces.insert((f.clone(), k.clone()), pending);
        }
    }
    for (f, k) in &l.singleton_skip {
        if let Some(holder) = admission::singleton_holder(tx, f, k).await? {
            facts.singleton_holders.insert((f.clone(), k.clone()), holder);
        }
    }
    for ((f, k), max) in &l.batch {
        if let Some(open) = admission::open_batch(tx, f, k, *max).await? {
            facts.open_batches.insert((f.clone(), k.clone()), open);
        }
    }
    Ok(())
}

/// Writes a plan: events, runs and skips with one `VALUES` list each, then what refers to them (debounce updates,
/// `cancel_on` listeners, singleton cancellations, batches). Returns the functions of cancelled runs.
pub async fn write<T: Tx>(
    tx: &mut T,
    batch: &[NewEvent],
    duplicate: &[bool],
    plan: Plan,
    now_ms: i64,
) -> Result<Vec<String>> {
    let events = batch
        .iter()
        .zip(duplicate)
        .map(|(e, dup)| {
            vec![
                Param::Text(e.id.clone()),
                Param::NullText(e.external_id.clone()),
                Param::Text(e.name.clone()),
                Param::Text(to_json_text(&e.data)),
                Param::Text(to_json_text(&e.user)),
                Param::BigInt(e.ts),
                Param::NullText(e.v.clone()),
                Param::BigInt(now_ms),
                Param::Bool(*dup),
            ]
        })
        .collect();
    let runs = plan
        .runs
        .into_iter()
        .map(|r| {
            let (parent_run, parent_step) = r.parent.unzip();
            vec![
                Param::Text(r.id),
                Param::Text(r.function_id),
                Param::Text(r.event_id),
                crate::store::runs::status::initial(),
                Param::BigInt(r.run_at),
                Param::NullText(r.idempotency_key),
                Param::BigInt(now_ms),
                Param::BigInt(now_ms),
                Param::NullText(parent_run),
                Param::NullText(parent_step),
                Param::NullText(r.concurrency_key),
                Param::NullText(r.throttle_key),
                Param::BigInt(r.priority_ms),
                Param::NullText(r.debounce_key),
                Param::NullText(r.batch_key),
                Param::Int(r.batch_size as i32),
                Param::NullText(r.singleton_key),
            ]
        })
        .collect();
    let skips = plan
        .skips
        .into_iter()
        .map(|s| {
            vec![
                Param::Text(s.event_id),
                Param::Text(s.function_id),
                Param::Text(s.reason.as_str().into()),
                Param::NullText(s.existing_run_id),
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
            skips,
            "",
        ),
    ];
    for s in inserts.iter().flatten() {
        tx.exec(s).await?;
    }
    // After the events exist (the runs' foreign keys point at them).
    for u in plan.debounce_updates {
        admission::debounce_run(tx, &u.run_id, &u.event_id, u.run_at, now_ms).await?;
    }
    admission::insert_cancel_waits(tx, plan.cancel_waits, now_ms).await?;
    // Singleton `cancel`: the newest run of each key replaces the unfinished ones (after its insert, so the
    // cancelled runs' events and the new run are all stored).
    let mut woken = Vec::new();
    for c in plan.singleton_cancels {
        let cancelled = admission::cancel_singleton_holders(tx, &c.function_id, &c.key, &c.newest, now_ms).await?;
        woken.extend(cancelled.into_iter().map(|r| r.function_id));
    }
    let appends = plan
        .batch_appends
        .into_iter()
        .map(|a| (a.run_id, a.position, a.event_id))
        .collect();
    let grown = plan
        .batch_growth
        .into_iter()
        .map(|g| (g.run_id, g.size, g.full))
        .collect();
    admission::grow_batches(tx, appends, grown, now_ms).await?;
    Ok(woken)
}
