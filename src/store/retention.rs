//! Retention: the database stops growing. Finished runs (with their steps, waits and batch links), the events no
//! remaining run needs (with their skips), expired dedupe ids and idempotency keys, dry-run `outbound_requests`,
//! old cron ticks (the newest per schedule is kept), stale rate-limit windows and nodes gone for longer than the
//! horizon are deleted in bounded batches, each its own short transaction: never one huge `DELETE`, never the
//! writer held for long.
//!
//! Invariants:
//! - an unfinished run (queued, running, sleeping, waiting) is never touched, nor a finished run whose end has not
//!   been told yet (`notify_pending`);
//! - an event is deleted only once no run refers to it (`runs.event_id`, `run_events.event_id`): every event an
//!   unfinished run needs stays;
//! - dedupe ids and idempotency keys go only after their 24 h window (`expires_at`), whatever the horizon.
//!
//! [`prune`] is called by the daemon's pruner every `INGOT_PRUNE_INTERVAL` and by `ingot prune`; [`preview`]
//! counts what it would remove (`ingot prune --dry-run`).

use super::Db;
use super::error::{Error, Result};
use super::sql::{Param, Stmt, Tx};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::AsyncConnection;
use ingot_actors::run::state::RunStatus;
use serde::Serialize;
use std::sync::Mutex;

/// What to keep.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Finished runs, their events, skips, outbound requests and cron ticks older than this go.
    pub horizon_ms: i64,
    /// Rows per batch (one transaction).
    pub batch: i64,
    /// Most batches per kind of row in one pass, so a pass never holds the database for long; the next pass goes on.
    pub max_batches: usize,
}

/// Rows removed (or, for a preview, that would be), by table.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Pruned {
    pub runs: u64,
    pub steps: u64,
    pub waits: u64,
    pub run_events: u64,
    pub events: u64,
    pub run_skips: u64,
    pub event_ids: u64,
    pub idempotency_keys: u64,
    pub outbound_requests: u64,
    pub cron_ticks: u64,
    pub rate_limits: u64,
    pub nodes: u64,
    /// The operator actions' audit (`actions`) and its links to runs (`action_runs`).
    pub actions: u64,
    pub action_runs: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.runs
            + self.steps
            + self.waits
            + self.run_events
            + self.events
            + self.run_skips
            + self.event_ids
            + self.idempotency_keys
            + self.outbound_requests
            + self.cron_ticks
            + self.rate_limits
            + self.nodes
            + self.actions
            + self.action_runs
    }

    fn add(&mut self, o: &Pruned) {
        self.runs += o.runs;
        self.steps += o.steps;
        self.waits += o.waits;
        self.run_events += o.run_events;
        self.events += o.events;
        self.run_skips += o.run_skips;
        self.event_ids += o.event_ids;
        self.idempotency_keys += o.idempotency_keys;
        self.outbound_requests += o.outbound_requests;
        self.cron_ticks += o.cron_ticks;
        self.rate_limits += o.rate_limits;
        self.nodes += o.nodes;
        self.actions += o.actions;
        self.action_runs += o.action_runs;
    }
}

/// The pruner's figures for `/health`: the last pass and the totals since start.
#[derive(Debug, Default, Serialize, Clone)]
pub struct Stats {
    pub passes: u64,
    pub last_pass_at: Option<i64>,
    pub last_error: Option<String>,
    pub last: Pruned,
    pub total: Pruned,
}

/// Shared between the pruner task and `/health`.
#[derive(Debug, Default)]
pub struct StatsCell(Mutex<Stats>);

impl StatsCell {
    pub fn snapshot(&self) -> Stats {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
    pub fn record(&self, at: i64, outcome: &Result<Pruned>) {
        if let Ok(mut s) = self.0.lock() {
            s.passes += 1;
            s.last_pass_at = Some(at);
            match outcome {
                Ok(p) => {
                    s.last = *p;
                    s.total.add(p);
                    s.last_error = None;
                }
                Err(e) => s.last_error = Some(e.to_string()),
            }
        }
    }
}

/// `status IN (…)` over the final run statuses, as bound parameters from the lifecycle (no status literal here).
fn final_statuses(s: &mut Stmt) -> String {
    let finals: Vec<&str> = RunStatus::ALL
        .iter()
        .filter(|st| st.is_final())
        .map(|st| st.as_str())
        .collect();
    let marks: Vec<String> = finals.iter().map(|f| s.bind(Param::Text(f.to_string()))).collect();
    marks.join(", ")
}

/// Old finished runs, oldest first: `SELECT id` (or `COUNT(*)`).
fn old_runs(select: &str, horizon: i64, limit: Option<i64>) -> Stmt {
    let mut s = Stmt::new("");
    let finals = final_statuses(&mut s);
    s.params.push(Param::BigInt(horizon));
    let h = s.params.len();
    s.sql =
        format!("SELECT {select} FROM runs WHERE status IN ({finals}) AND finished_at < ${h} AND NOT notify_pending");
    if let Some(limit) = limit {
        s.params.push(Param::BigInt(limit));
        s.sql
            .push_str(&format!(" ORDER BY finished_at LIMIT ${}", s.params.len()));
    }
    s
}

/// Old events no run refers to.
fn old_events(select: &str, horizon: i64, limit: Option<i64>) -> Stmt {
    let mut s = Stmt::new(format!(
        "SELECT {select} FROM events e WHERE e.received_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.event_id = e.id) \
         AND NOT EXISTS (SELECT 1 FROM run_events re WHERE re.event_id = e.id)"
    ));
    s.params.push(Param::BigInt(horizon));
    if let Some(limit) = limit {
        s.params.push(Param::BigInt(limit));
        s.sql.push_str(" ORDER BY e.received_at LIMIT $2");
    }
    s
}

/// The simple kinds: a table, its primary key's columns (for the batch), and the predicate of rows to remove (`$1` = the cut-off).
struct Simple {
    table: &'static str,
    key: &'static str,
    predicate: &'static str,
    /// The cut-off: `now` for windows that expire, the horizon for history.
    expires: bool,
}

const SIMPLE: &[Simple] = &[
    Simple {
        table: "event_ids",
        key: "external_id",
        predicate: "expires_at < $1",
        expires: true,
    },
    Simple {
        table: "idempotency_keys",
        key: "function_id, key",
        predicate: "expires_at < $1",
        expires: true,
    },
    Simple {
        table: "outbound_requests",
        key: "id",
        predicate: "created_at < $1",
        expires: false,
    },
    Simple {
        table: "cron_ticks",
        key: "function_id, schedule, tick_at",
        // The newest tick of each schedule stays: it tells the scheduler where it was.
        predicate: "tick_at < $1 AND tick_at < (SELECT MAX(t2.tick_at) FROM cron_ticks t2 \
                    WHERE t2.function_id = cron_ticks.function_id AND t2.schedule = cron_ticks.schedule)",
        expires: false,
    },
    Simple {
        table: "rate_limits",
        key: "function_id, key",
        predicate: "window_start < $1",
        expires: false,
    },
    Simple {
        table: "nodes",
        key: "id",
        // A node gone for longer than the horizon that holds no run.
        predicate: "heartbeat_at < $1 AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.lease_owner = nodes.id)",
        expires: false,
    },
    // The audit is kept as long as history: an action older than the horizon goes, its links first.
    Simple {
        table: "action_runs",
        key: "action_id, run_id",
        predicate: "action_id IN (SELECT a.id FROM actions a WHERE a.at < $1)",
        expires: false,
    },
    Simple {
        table: "actions",
        key: "id",
        predicate: "at < $1",
        expires: false,
    },
];

impl Simple {
    fn count(&self, pruned: &mut Pruned, n: u64) {
        let field = match self.table {
            "event_ids" => &mut pruned.event_ids,
            "idempotency_keys" => &mut pruned.idempotency_keys,
            "outbound_requests" => &mut pruned.outbound_requests,
            "cron_ticks" => &mut pruned.cron_ticks,
            "rate_limits" => &mut pruned.rate_limits,
            "actions" => &mut pruned.actions,
            "action_runs" => &mut pruned.action_runs,
            _ => &mut pruned.nodes,
        };
        *field += n;
    }
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    id: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The one number a `SELECT COUNT(*) AS n` answers.
async fn count<T: Tx>(tx: &mut T, s: Stmt) -> Result<u64> {
    let rows: Vec<Count> = tx.rows(&s).await?;
    Ok(rows.first().map(|r| r.n as u64).unwrap_or(0))
}

/// `$from`, `$from+1`, … for `n` parameters.
fn marks(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

fn texts(ids: &[String]) -> Vec<Param> {
    ids.iter().cloned().map(Param::Text).collect()
}

/// Deletes `WHERE column IN (ids)`; returns the rows removed.
async fn delete_in<T: Tx>(tx: &mut T, table: &str, column: &str, ids: &[String]) -> Result<u64> {
    let mut s = Stmt::new(format!(
        "DELETE FROM {table} WHERE {column} IN ({})",
        marks(1, ids.len())
    ));
    s.params = texts(ids);
    Ok(tx.exec(&s).await? as u64)
}

/// One batch of old runs and what hangs off them, in one transaction.
async fn runs_batch<T: Tx>(tx: &mut T, policy: &Policy, pruned: &mut Pruned) -> Result<usize> {
    let ids: Vec<String> = tx
        .rows::<Id>(&old_runs("id", policy.horizon_ms, Some(policy.batch)))
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    pruned.steps += delete_in(tx, "steps", "run_id", &ids).await?;
    pruned.waits += delete_in(tx, "waits", "run_id", &ids).await?;
    pruned.run_events += delete_in(tx, "run_events", "run_id", &ids).await?;
    // Guarded again: only runs still final are deleted (the status is never changed back, but the guard is cheap).
    let mut s = Stmt::new("");
    let finals = final_statuses(&mut s);
    let start = s.params.len() + 1;
    s.sql = format!(
        "DELETE FROM runs WHERE status IN ({finals}) AND id IN ({})",
        marks(start, ids.len())
    );
    s.params.extend(texts(&ids));
    pruned.runs += tx.exec(&s).await? as u64;
    Ok(ids.len())
}

/// One batch of old events no run needs, with their skips.
async fn events_batch<T: Tx>(tx: &mut T, policy: &Policy, pruned: &mut Pruned) -> Result<usize> {
    let ids: Vec<String> = tx
        .rows::<Id>(&old_events("e.id AS id", policy.horizon_ms, Some(policy.batch)))
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    pruned.run_skips += delete_in(tx, "run_skips", "event_id", &ids).await?;
    pruned.events += delete_in(tx, "events", "id", &ids).await?;
    Ok(ids.len())
}

/// One batch of a simple kind.
async fn simple_batch<T: Tx>(tx: &mut T, kind: &Simple, cutoff: i64, batch: i64, pruned: &mut Pruned) -> Result<usize> {
    let mut s = Stmt::new(format!(
        "DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} WHERE {predicate} LIMIT $2)",
        table = kind.table,
        key = kind.key,
        predicate = kind.predicate,
    ));
    s.params = vec![Param::BigInt(cutoff), Param::BigInt(batch)];
    let n = tx.exec(&s).await?;
    kind.count(pruned, n as u64);
    Ok(n)
}

/// Runs `batch` in its own write transaction until it removes fewer rows than a batch, or `max_batches` ran.
macro_rules! batches {
    ($db:expr, $policy:expr, |$tx:ident| $body:expr) => {{
        for _ in 0..$policy.max_batches {
            let n: usize = crate::with_conn!($db, write, |c| { crate::write_tx!(c, Error, async |$tx| $body).await })?;
            if (n as i64) < $policy.batch {
                break;
            }
        }
    }};
}

/// One pruning pass at `now_ms`: deletes what the policy no longer keeps, in bounded batches.
pub async fn prune(db: &Db, now_ms: i64, policy: &Policy) -> Result<Pruned> {
    let mut pruned = Pruned::default();
    // Runs first: their events then become free to go in the same pass.
    batches!(db, policy, |tx| runs_batch(tx, policy, &mut pruned).await);
    batches!(db, policy, |tx| events_batch(tx, policy, &mut pruned).await);
    for kind in SIMPLE {
        let cutoff = if kind.expires { now_ms } else { policy.horizon_ms };
        batches!(db, policy, |tx| simple_batch(
            tx,
            kind,
            cutoff,
            policy.batch,
            &mut pruned
        )
        .await);
    }
    Ok(pruned)
}

/// What [`prune`] would remove at `now_ms` if it ran until done (events freed by the runs it removes included).
pub async fn preview(db: &Db, now_ms: i64, policy: &Policy) -> Result<Pruned> {
    let horizon = policy.horizon_ms;
    crate::with_conn!(db, read, |c| {
        c.transaction::<_, Error, _>(async |tx| {
            let mut p = Pruned {
                runs: count(tx, old_runs("COUNT(*) AS n", horizon, None)).await?,
                ..Pruned::default()
            };
            let of_old_runs = |table: &str| {
                let inner = old_runs("id", horizon, None);
                Stmt {
                    sql: format!("SELECT COUNT(*) AS n FROM {table} WHERE run_id IN ({})", inner.sql),
                    params: inner.params,
                    edges: Vec::new(),
                }
            };
            p.steps = count(tx, of_old_runs("steps")).await?;
            p.waits = count(tx, of_old_runs("waits")).await?;
            p.run_events = count(tx, of_old_runs("run_events")).await?;
            // Events no run refers to once the old runs are gone.
            let mut events = Stmt::new("");
            let finals = final_statuses(&mut events);
            events.params.push(Param::BigInt(horizon));
            let h = events.params.len();
            let kept_run = format!("NOT (r.status IN ({finals}) AND r.finished_at < ${h} AND NOT r.notify_pending)");
            let free = format!(
                "e.received_at < ${h} \
                 AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.event_id = e.id AND {kept_run}) \
                 AND NOT EXISTS (SELECT 1 FROM run_events re JOIN runs r ON r.id = re.run_id \
                                 WHERE re.event_id = e.id AND {kept_run})"
            );
            events.sql = format!("SELECT COUNT(*) AS n FROM events e WHERE {free}");
            p.events = count(tx, events.clone()).await?;
            events.sql = format!(
                "SELECT COUNT(*) AS n FROM run_skips s WHERE s.event_id IN (SELECT e.id FROM events e WHERE {free})"
            );
            p.run_skips = count(tx, events).await?;
            for kind in SIMPLE {
                let cutoff = if kind.expires { now_ms } else { horizon };
                let mut s = Stmt::new(format!(
                    "SELECT COUNT(*) AS n FROM {} WHERE {}",
                    kind.table, kind.predicate
                ));
                s.params.push(Param::BigInt(cutoff));
                let n = count(tx, s).await?;
                kind.count(&mut p, n);
            }
            Ok(p)
        })
        .await
    })
}

impl Policy {
    /// The policy at `now_ms` for a retention period and batch size.
    pub fn at(now_ms: i64, retention: std::time::Duration, batch: usize) -> Policy {
        Policy {
            horizon_ms: now_ms - retention.as_millis() as i64,
            batch: batch as i64,
            max_batches: 20,
        }
    }
}

/// The daemon's pruner: a pass every `interval` (the first one an interval after start), figures in `stats`.
/// A failed pass (the database is down) is logged and retried at the next interval; nothing is half-deleted,
/// because every batch is its own transaction.
pub async fn run_pruner(
    db: Db,
    retention: std::time::Duration,
    interval: std::time::Duration,
    batch: usize,
    stats: std::sync::Arc<StatsCell>,
) {
    loop {
        tokio::time::sleep(interval).await;
        let now = ingot_actors::time::now_ms();
        let outcome = prune(&db, now, &Policy::at(now, retention, batch)).await;
        match &outcome {
            Ok(p) if p.total() > 0 => tracing::info!(removed = p.total(), pruned = ?p, "retention: pruned"),
            Ok(_) => tracing::debug!("retention: nothing to prune"),
            Err(e) => tracing::warn!(error = %e, "retention: pruning pass failed; retrying at the next interval"),
        }
        stats.record(now, &outcome);
    }
}
