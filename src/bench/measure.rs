//! Figures read back from the database, and the baseline of plain commits on the same database.

use crate::store::schema::{events, runs};
use crate::store::{Backend, Db, PoolOptions};
use anyhow::Context;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use ingot_actors::run::state::RunStatus;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Percentiles of a set of durations, in ms.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub p50: i64,
    pub p99: i64,
    pub max: i64,
}

impl Percentiles {
    /// Nearest-rank percentiles.
    pub fn of(mut values: Vec<i64>) -> Percentiles {
        values.sort_unstable();
        let rank = |p: f64| {
            let n = values.len();
            if n == 0 {
                return 0;
            }
            values[((p * n as f64).ceil() as usize).clamp(1, n) - 1]
        };
        Percentiles {
            p50: rank(0.50),
            p99: rank(0.99),
            max: values.last().copied().unwrap_or(0),
        }
    }
}

#[derive(Debug)]
pub struct RunFigures {
    /// The first event's received_at and the last run's finished_at (ms since the epoch).
    pub first_received: i64,
    pub last_finished: i64,
    /// N / (last run's finished_at − first event's received_at).
    pub runs_per_s: f64,
    /// finished_at − the event's received_at.
    pub latency: Percentiles,
    /// started_at − the event's received_at (intake commit, wake-up, claim).
    pub queued: Percentiles,
    /// finished_at − started_at (the step, its write, the run's completion).
    pub executing: Percentiles,
}

/// Reads every run of `function_id` with its event; all `expected` must be completed.
pub async fn runs(db: &Db, function_id: &str, expected: usize) -> anyhow::Result<RunFigures> {
    type Row = (i64, Option<i64>, Option<i64>, String);
    let rows: Vec<Row> = crate::with_conn!(db, read, |c| {
        runs::table
            .inner_join(events::table)
            .filter(runs::function_id.eq(function_id))
            .select((events::received_at, runs::started_at, runs::finished_at, runs::status))
            .load(c)
            .await?
    });
    let mut statuses: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &rows {
        *statuses.entry(r.3.as_str()).or_default() += 1;
    }
    let completed = statuses.get(RunStatus::Completed.as_str()).copied().unwrap_or(0);
    anyhow::ensure!(
        rows.len() == expected && completed == expected,
        "expected {expected} completed runs, found {} runs: {statuses:?}",
        rows.len()
    );
    let mut latency = Vec::with_capacity(rows.len());
    let mut queued = Vec::with_capacity(rows.len());
    let mut executing = Vec::with_capacity(rows.len());
    let (mut first_received, mut last_finished) = (i64::MAX, i64::MIN);
    for (received, started, finished, _) in rows {
        let finished = finished.context("a completed run has no finished_at")?;
        let started = started.context("a completed run has no started_at")?;
        first_received = first_received.min(received);
        last_finished = last_finished.max(finished);
        latency.push(finished - received);
        queued.push(started - received);
        executing.push(finished - started);
    }
    // Millisecond timestamps: a span under 1 ms counts as 1 ms.
    let span_s = (last_finished - first_received).max(1) as f64 / 1000.0;
    Ok(RunFigures {
        first_received,
        last_finished,
        runs_per_s: expected as f64 / span_s,
        latency: Percentiles::of(latency),
        queued: Percentiles::of(queued),
        executing: Percentiles::of(executing),
    })
}

/// This process's resident memory (VmRSS) and its peak so far (VmHWM), in KiB, from `/proc/self/status`.
pub fn memory_kib() -> anyhow::Result<(u64, u64)> {
    memory_kib_at("/proc/self/status")
}

/// `VmRSS` and `VmHWM` of the process whose `/proc/<pid>/status` is `path`, in KiB.
pub fn memory_kib_at(path: &str) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .with_context(|| format!("/proc/self/status has no {name}"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

diesel::table! {
    bench_baseline (id) {
        id -> Text,
        v -> BigInt,
    }
}

#[derive(Debug)]
pub struct Baseline {
    pub commits_per_s: f64,
    pub writers: usize,
    pub elapsed: Duration,
}

/// `n` single-row INSERTs, each its own autocommit transaction, through as many connections as the daemon writes
/// with: SQLite's one writer, or PostgreSQL's default pool. The scratch table is dropped afterwards.
pub async fn baseline(db: &Db, n: usize) -> anyhow::Result<Baseline> {
    crate::with_conn!(db, write, |c| {
        diesel::sql_query("CREATE TABLE bench_baseline (id TEXT PRIMARY KEY, v BIGINT NOT NULL)")
            .execute(c)
            .await
            .context("CREATE TABLE bench_baseline")?
    });
    let writers = match db.backend() {
        Backend::Sqlite => 1,
        Backend::Postgres => PoolOptions::default().size,
    };
    let measured = insert_rows(db, n, writers).await;
    crate::with_conn!(db, write, |c| {
        diesel::sql_query("DROP TABLE bench_baseline")
            .execute(c)
            .await
            .context("DROP TABLE bench_baseline")?
    });
    let elapsed = measured?;
    Ok(Baseline {
        commits_per_s: n as f64 / elapsed.as_secs_f64(),
        writers,
        elapsed,
    })
}

async fn insert_rows(db: &Db, n: usize, writers: usize) -> anyhow::Result<Duration> {
    let ids: Vec<String> = (0..n).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let shares: Vec<Vec<(String, i64)>> = (0..writers)
        .map(|w| (w..n).step_by(writers).map(|i| (ids[i].clone(), i as i64)).collect())
        .collect();
    concurrently(db, shares, "a baseline writer", async |db, share| {
        insert_share(&db, share).await
    })
    .await
}

/// Runs `write` once per share, all at once (a task each, `db` cloned for each), and times them until the last has
/// finished; the first failure (or a `what` that panicked) is the answer.
pub async fn concurrently<S, F, Fut>(db: &Db, shares: Vec<S>, what: &str, write: F) -> anyhow::Result<Duration>
where
    S: Send + 'static,
    F: Fn(Db, S) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let started = Instant::now();
    let tasks: Vec<_> = shares
        .into_iter()
        .map(|share| tokio::spawn(write(db.clone(), share)))
        .collect();
    for task in tasks {
        task.await.with_context(|| format!("{what} panicked"))??;
    }
    Ok(started.elapsed())
}

/// One writer: holds one connection and inserts its rows one statement (one commit) at a time.
async fn insert_share(db: &Db, rows: Vec<(String, i64)>) -> anyhow::Result<()> {
    crate::with_conn!(db, write, |c| {
        for (id, v) in rows {
            diesel::insert_into(bench_baseline::table)
                .values((bench_baseline::id.eq(id), bench_baseline::v.eq(v)))
                .execute(c)
                .await
                .context("INSERT INTO bench_baseline")?;
        }
    });
    Ok(())
}
