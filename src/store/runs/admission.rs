//! Intake-side flow control, inside the intake transaction: rate limits (skip the event), debounce (one pending
//! run per key that takes the newest event), singleton (one unfinished run per key) and `cancel_on` listeners for
//! the runs created. The claim-side limits (concurrency, throttle, priority) are in [`super::claim`].

use super::cancel::CancelledRun;
use super::status;
use crate::store::db::Backend;
use crate::store::error::Result;
use crate::store::sql::{Param, Stmt, Tx};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Text};
use ingot_actors::run::state::RunStatus;

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = Integer)]
    count: i32,
}

/// Counts `n` events in their key's window (which starts at the first event); returns the window's count with
/// them. An event is admitted when its place in the count is within the limit (see the intake's plan).
pub async fn count_rate<T: Tx>(
    tx: &mut T,
    function_id: &str,
    key: &str,
    n: i64,
    period_ms: i64,
    now: i64,
) -> Result<i64> {
    let mut s = Stmt::new(
        "INSERT INTO rate_limits (function_id, key, window_start, count) VALUES ($1, $2, $3, $5) \
         ON CONFLICT (function_id, key) DO UPDATE SET \
         window_start = CASE WHEN rate_limits.window_start + $4 <= $3 THEN $3 ELSE rate_limits.window_start END, \
         count = CASE WHEN rate_limits.window_start + $4 <= $3 THEN $5 ELSE rate_limits.count + $5 END \
         RETURNING count",
    );
    s.params = vec![
        Param::Text(function_id.into()),
        Param::Text(key.into()),
        Param::BigInt(now),
        Param::BigInt(period_ms),
        Param::Int(i32::try_from(n).unwrap_or(i32::MAX)),
    ];
    let rows: Vec<CountRow> = tx.rows(&s).await?;
    Ok(rows.first().map_or(n, |r| i64::from(r.count)))
}

/// The pending (not started) debounced run of a function and key: (run id, its event id, created at).
pub async fn pending_debounce<T: Tx>(
    tx: &mut T,
    function_id: &str,
    key: &str,
) -> Result<Option<(String, String, i64)>> {
    #[derive(QueryableByName)]
    struct Pending {
        #[diesel(sql_type = Text)]
        id: String,
        #[diesel(sql_type = Text)]
        event_id: String,
        #[diesel(sql_type = BigInt)]
        created_at: i64,
    }
    let lock = if tx.backend() == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let mut s = Stmt::new("");
    s.params = vec![Param::Text(function_id.into()), Param::Text(key.into())];
    let queued = status::param(&mut s, RunStatus::Queued);
    s.sql = format!(
        "SELECT id, event_id, created_at FROM runs WHERE function_id = $1 AND debounce_key = $2 \
         AND status = {queued} AND started_at IS NULL{lock}"
    );
    Ok(tx
        .rows::<Pending>(&s)
        .await?
        .into_iter()
        .next()
        .map(|p| (p.id, p.event_id, p.created_at)))
}

/// Gives a pending debounced run a newer event and pushes its start back (guarded: still pending).
pub async fn debounce_run<T: Tx>(tx: &mut T, run_id: &str, event_id: &str, run_at: i64, now: i64) -> Result<()> {
    let mut s = Stmt::new("");
    s.params = vec![
        Param::Text(run_id.into()),
        Param::Text(event_id.into()),
        Param::BigInt(run_at),
        Param::BigInt(now),
    ];
    let queued = status::param(&mut s, RunStatus::Queued);
    s.sql = format!(
        "UPDATE runs SET event_id = $2, run_at = $3, updated_at = $4 WHERE id = $1 AND status = {queued} \
         AND started_at IS NULL"
    );
    tx.exec(&s).await?;
    Ok(())
}

/// When a debounced run starts: `period` after the latest event, but no later than `timeout` after the first.
pub fn debounce_at(created_at: i64, now: i64, period_ms: i64, timeout_ms: Option<i64>) -> i64 {
    let at = now + period_ms;
    timeout_ms.map_or(at, |t| at.min(created_at + t))
}

/// The open (not started, not full) batch of a function and key: (run id, events it holds).
pub async fn open_batch<T: Tx>(tx: &mut T, function_id: &str, key: &str, max: u32) -> Result<Option<(String, u32)>> {
    #[derive(QueryableByName)]
    struct Open {
        #[diesel(sql_type = Text)]
        id: String,
        #[diesel(sql_type = Integer)]
        batch_size: i32,
    }
    let lock = if tx.backend() == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let mut s = Stmt::new("");
    s.params = vec![
        Param::Text(function_id.into()),
        Param::Text(key.into()),
        Param::Int(max as i32),
    ];
    let queued = status::param(&mut s, RunStatus::Queued);
    s.sql = format!(
        "SELECT id, batch_size FROM runs WHERE function_id = $1 AND batch_key = $2 AND status = {queued} \
         AND started_at IS NULL AND batch_size < $3 ORDER BY created_at LIMIT 1{lock}"
    );
    Ok(tx
        .rows::<Open>(&s)
        .await?
        .into_iter()
        .next()
        .map(|o| (o.id, o.batch_size as u32)))
}

/// Adds events to batches: `run_events` rows, and for batches already stored, their new size (and, when full,
/// `run_at = now`). Guarded: only a batch not yet started grows.
pub async fn grow_batches<T: Tx>(
    tx: &mut T,
    appends: Vec<(String, u32, String)>,
    stored: Vec<(String, u32, bool)>,
    now: i64,
) -> Result<()> {
    if !appends.is_empty() {
        let mut s = Stmt::new("INSERT INTO run_events (run_id, position, event_id) VALUES ");
        s.push_values(
            appends
                .into_iter()
                .map(|(run, pos, ev)| vec![Param::Text(run), Param::Int(pos as i32), Param::Text(ev)]),
        );
        tx.exec(&s).await?;
    }
    for (run, size, full) in stored {
        let mut s = Stmt::new("");
        s.params = vec![
            Param::Text(run),
            Param::Int(size as i32),
            Param::Bool(full),
            Param::BigInt(now),
        ];
        let queued = status::param(&mut s, RunStatus::Queued);
        s.sql = format!(
            "UPDATE runs SET batch_size = $2, run_at = CASE WHEN $3 THEN $4 ELSE run_at END, updated_at = $4 \
             WHERE id = $1 AND status = {queued} AND started_at IS NULL"
        );
        tx.exec(&s).await?;
    }
    Ok(())
}

/// Serializes intakes that look at the same singleton keys, so two concurrent requests cannot both find a key
/// free: on PostgreSQL a transaction-scoped advisory lock per (function, key), taken in sorted order so requests
/// with several keys cannot deadlock (the two-`int4` lock space, apart from the claim's one-`bigint` locks). SQLite
/// has one writer, so its intake transactions are serialized already.
pub async fn lock_singletons<T: Tx>(tx: &mut T, mut keys: Vec<(String, String)>) -> Result<()> {
    if tx.backend() != Backend::Postgres {
        return Ok(());
    }
    keys.sort();
    keys.dedup();
    for (function_id, key) in keys {
        let mut s = Stmt::new("SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))");
        s.params = vec![Param::Text(function_id), Param::Text(key)];
        tx.exec(&s).await?;
    }
    Ok(())
}

/// The statuses in which a run holds its singleton key: every unfinished one (a run queued for a retry, sleeping or
/// waiting still holds it, as in Inngest).
fn unfinished() -> Vec<RunStatus> {
    RunStatus::ALL.into_iter().filter(|s| !s.is_final()).collect()
}

/// The oldest unfinished run of a function holding `key` (singleton), if any.
pub async fn singleton_holder<T: Tx>(tx: &mut T, function_id: &str, key: &str) -> Result<Option<String>> {
    #[derive(QueryableByName)]
    struct Holder {
        #[diesel(sql_type = Text)]
        id: String,
    }
    let mut s = Stmt::new("");
    s.params = vec![Param::Text(function_id.into()), Param::Text(key.into())];
    let open = status::param_in(&mut s, &unfinished());
    s.sql = format!(
        "SELECT id FROM runs WHERE function_id = $1 AND singleton_key = $2 AND status {open}          ORDER BY created_at LIMIT 1"
    );
    Ok(tx.rows::<Holder>(&s).await?.into_iter().next().map(|h| h.id))
}

/// Singleton `cancel` mode: cancels every unfinished run of a function holding `key` except `newest` (the run this
/// intake created), through the `Cancelled` edge.
pub async fn cancel_singleton_holders<T: Tx>(
    tx: &mut T,
    function_id: &str,
    key: &str,
    newest: &str,
    now: i64,
) -> Result<Vec<CancelledRun>> {
    #[derive(QueryableByName)]
    struct Holder {
        #[diesel(sql_type = Text)]
        id: String,
    }
    let mut s = Stmt::new("");
    s.params = vec![
        Param::Text(function_id.into()),
        Param::Text(key.into()),
        Param::Text(newest.into()),
    ];
    let open = status::param_in(&mut s, &unfinished());
    s.sql = format!("SELECT id FROM runs WHERE function_id = $1 AND singleton_key = $2 AND id <> $3 AND status {open}");
    let ids: Vec<String> = tx.rows::<Holder>(&s).await?.into_iter().map(|h| h.id).collect();
    super::cancel::cancel_many_in(tx, &ids, "singleton: a newer run of the same key started", now).await
}

/// A `cancel_on` listener for a new run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelWait {
    pub run_id: String,
    pub index: usize,
    pub event_name: String,
    pub expr: Option<String>,
    pub trigger_event: String,
    pub expires_at: i64,
}

pub async fn insert_cancel_waits<T: Tx>(tx: &mut T, waits: Vec<CancelWait>, now: i64) -> Result<()> {
    if waits.is_empty() {
        return Ok(());
    }
    let mut s = Stmt::new(
        "INSERT INTO waits (run_id, wait_key, kind, event_name, expr, trigger_event, expires_at, created_at) VALUES ",
    );
    s.push_values(waits.into_iter().map(|w| {
        vec![
            Param::Text(w.run_id),
            Param::Text(format!("cancel:{}", w.index)),
            Param::Text("cancel".into()),
            Param::Text(w.event_name),
            Param::NullText(w.expr),
            Param::Text(w.trigger_event),
            Param::BigInt(w.expires_at),
            Param::BigInt(now),
        ]
    }));
    tx.exec(&s).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debounce_is_pushed_back_but_capped_by_the_timeout() {
        assert_eq!(debounce_at(0, 100, 50, None), 150);
        assert_eq!(debounce_at(0, 100, 50, Some(120)), 120);
        assert_eq!(debounce_at(0, 100, 50, Some(1000)), 150);
    }
}
