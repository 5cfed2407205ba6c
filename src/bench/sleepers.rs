//! The sleepers scenario, in two phases on one daemon:
//! 1. idle: N runs of `bench-sleep-long` sleep `--idle-sleep`. Once every one is `sleeping` (and a second more
//!    has passed), the bench counts the database statements of the whole process
//!    ([`crate::store::db::queries_total`]) and samples its resident memory (VmRSS) until one second before the
//!    first wake-up, issuing no query of its own meanwhile;
//! 2. lateness: N runs of `bench-sleep` sleep `--sleep` (1 s) and finish.
//!
//! Wake-up lateness of a run = its sleep step's resolution attempt's `finished_at` (when the resumed handler got
//! past the sleep) − the waiting attempt's `wake_at` (see `ingot_actors::step::wait`).

use super::fresh::{FreshDb, Kind};
use super::measure::{self, Percentiles, RunFigures, memory_kib};
use super::{BenchArgs, client, functions};
use crate::store::Db;
use crate::store::schema::{runs, steps};
use anyhow::Context;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use ingot_actors::run::state::{RunStatus, StepStatus};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

const TARGET_LATENESS_P99_MS: i64 = 100;
const TARGET_IDLE_QUERIES_PER_S: f64 = 5.0;
/// Quiet time after the last run fell asleep before the idle window opens, and before the first wake-up it ends.
const SETTLE: Duration = Duration::from_secs(1);

pub struct Row {
    /// Memory (KiB) of the whole bench process (the daemon runs in it) before the first event, and the most
    /// sampled while every long sleeper slept.
    rss_before_kib: u64,
    rss_asleep_kib: u64,
    /// First long-sleep event sent → every run `sleeping`.
    asleep_after: Duration,
    window: Duration,
    window_queries: u64,
    /// The lateness phase: all runs, and when they woke.
    short: RunFigures,
    short_lateness: Percentiles,
    long_lateness: Percentiles,
}

impl Row {
    fn queries_per_s(&self) -> f64 {
        self.window_queries as f64 / self.window.as_secs_f64()
    }
}

struct Idle {
    rss_before_kib: u64,
    rss_asleep_kib: u64,
    asleep_after: Duration,
    window: Duration,
    window_queries: u64,
    window_end_ms: i64,
}

pub fn measure(rt: &Runtime, fresh: &FreshDb, args: &BenchArgs) -> anyhow::Result<Row> {
    let n = args.sleepers;
    let functions = vec![functions::sleep(), functions::sleep_long()];
    // Opened before the daemon: a new SQLite connection sets `journal_mode` before its `busy_timeout`, so opening
    // one while the daemon's writer commits can fail at once with "database is locked".
    let db = rt.block_on(super::open(fresh))?;
    let idle = super::with_daemon(rt, fresh, functions, async |base: &str| {
        let idle = idle_phase(base, &db, args).await.context("idle phase")?;
        client::drain(base, true)
            .await
            .context("waiting for the long sleepers")?;
        let ms = args.sleep.as_millis() as u64;
        client::send_events(
            base,
            functions::SLEEP_EVENT,
            |_| serde_json::json!({ "sleep_ms": ms }),
            n,
            args.sending(),
        )
        .await
        .context("sending the short sleepers")?;
        client::drain(base, true)
            .await
            .context("waiting for the short sleepers")?;
        anyhow::Ok(idle)
    })?;
    rt.block_on(async {
        let long_lateness = lateness(&db, functions::SLEEP_LONG, n).await?;
        let woke_first = long_lateness.first_wake_ms;
        anyhow::ensure!(
            woke_first > idle.window_end_ms,
            "a long sleeper woke at {woke_first}, inside the idle window (ended {}): use a longer --idle-sleep",
            idle.window_end_ms
        );
        Ok(Row {
            rss_before_kib: idle.rss_before_kib,
            rss_asleep_kib: idle.rss_asleep_kib,
            asleep_after: idle.asleep_after,
            window: idle.window,
            window_queries: idle.window_queries,
            short: measure::runs(&db, functions::SLEEP, n)
                .await
                .context("short sleepers")?,
            short_lateness: lateness(&db, functions::SLEEP, n).await?.of,
            long_lateness: long_lateness.of,
        })
    })
}

async fn idle_phase(base: &str, db: &Db, args: &BenchArgs) -> anyhow::Result<Idle> {
    let n = args.sleepers;
    tokio::time::sleep(SETTLE).await;
    let (rss_before_kib, _) = memory_kib()?;
    let ms = args.idle_sleep.as_millis() as u64;
    let sent = Instant::now();
    let data = |_| serde_json::json!({ "sleep_ms": ms });
    client::send_events(base, functions::SLEEP_LONG_EVENT, data, n, args.sending())
        .await
        .context("sending the long sleepers")?;
    loop {
        let asleep = count_sleeping(db).await?;
        if asleep as usize >= n {
            break;
        }
        anyhow::ensure!(
            sent.elapsed() < args.idle_sleep,
            "only {asleep} of {n} runs asleep after --idle-sleep ({:?}); use a longer one",
            args.idle_sleep
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let asleep_after = sent.elapsed();
    let first_wake: Option<i64> = crate::with_conn!(db, read, |c| {
        steps::table
            .inner_join(runs::table)
            .filter(runs::function_id.eq(functions::SLEEP_LONG))
            .filter(steps::status.eq(StepStatus::Waiting.as_str()))
            .select(diesel::dsl::min(steps::wake_at))
            .first(c)
            .await?
    });
    let window_end_ms = first_wake.context("no sleep step is waiting")? - SETTLE.as_millis() as i64;
    tokio::time::sleep(SETTLE).await;
    let left = window_end_ms - ingot_actors::time::now_ms();
    anyhow::ensure!(
        left >= 2000,
        "every run was asleep only {left} ms before the first wakes: use a longer --idle-sleep"
    );
    // The window: no query from the bench, only samples of this process's memory.
    let q0 = crate::store::db::queries_total();
    let opened = Instant::now();
    let deadline = opened + Duration::from_millis(left as u64);
    let mut rss_asleep_kib = 0;
    while Instant::now() < deadline {
        rss_asleep_kib = rss_asleep_kib.max(memory_kib()?.0);
        tokio::time::sleep((deadline - Instant::now()).min(Duration::from_millis(500))).await;
    }
    let window_queries = crate::store::db::queries_total() - q0;
    Ok(Idle {
        rss_before_kib,
        rss_asleep_kib: rss_asleep_kib.max(memory_kib()?.0),
        asleep_after,
        window: opened.elapsed(),
        window_queries,
        window_end_ms,
    })
}

async fn count_sleeping(db: &Db) -> anyhow::Result<i64> {
    Ok(crate::with_conn!(db, read, |c| {
        runs::table
            .filter(runs::function_id.eq(functions::SLEEP_LONG))
            .filter(runs::status.eq(RunStatus::Sleeping.as_str()))
            .count()
            .get_result(c)
            .await?
    }))
}

struct Lateness {
    of: Percentiles,
    first_wake_ms: i64,
}

/// Every sleep of `function_id`'s runs: resolution `finished_at` − waiting `wake_at`; all `expected` resolved.
async fn lateness(db: &Db, function_id: &str, expected: usize) -> anyhow::Result<Lateness> {
    type Row = (String, String, Option<i64>, i64);
    let rows: Vec<Row> = crate::with_conn!(db, read, |c| {
        steps::table
            .inner_join(runs::table)
            .filter(runs::function_id.eq(function_id))
            .filter(steps::kind.eq("sleep"))
            .select((steps::run_id, steps::status, steps::wake_at, steps::finished_at))
            .load(c)
            .await?
    });
    let mut wake_at: HashMap<String, i64> = HashMap::new();
    let mut woke: HashMap<String, i64> = HashMap::new();
    for (run_id, status, wake, finished) in rows {
        if status == StepStatus::Waiting.as_str() {
            wake_at.insert(run_id, wake.context("a waiting sleep step has no wake_at")?);
        } else if status == StepStatus::Completed.as_str() {
            woke.insert(run_id, finished);
        }
    }
    let late: Vec<i64> = woke
        .iter()
        .filter_map(|(run, at)| wake_at.get(run).map(|w| at - w))
        .collect();
    anyhow::ensure!(
        late.len() == expected,
        "{function_id}: expected {expected} resolved sleeps, found {} ({} waiting attempts)",
        late.len(),
        wake_at.len()
    );
    Ok(Lateness {
        of: Percentiles::of(late),
        first_wake_ms: woke.values().copied().min().unwrap_or(i64::MAX),
    })
}

pub fn print(args: &BenchArgs, rows: &[(Kind, Row)]) {
    println!();
    println!(
        "== sleepers: {} runs sleeping {} (lateness), and {} runs sleeping {} (idle: memory, queries/s)",
        args.sleepers,
        humantime::format_duration(args.sleep),
        args.sleepers,
        humantime::format_duration(args.idle_sleep)
    );
    println!(
        "{:<9} {:>20} {:>9} {:>14} {:>14} {:>9} {:>10} {:>9} {:>17}  targets",
        "backend",
        "late p50/p99/max ms",
        "total_s",
        "rss_before_MiB",
        "rss_asleep_MiB",
        "asleep_s",
        "window_s",
        "queries/s",
        "long late p50/p99"
    );
    for (kind, r) in rows {
        let lateness_met = r.short_lateness.p99 < TARGET_LATENESS_P99_MS;
        let idle_met = r.queries_per_s() < TARGET_IDLE_QUERIES_PER_S;
        println!(
            "{:<9} {:>20} {:>9.2} {:>14.1} {:>14.1} {:>9.2} {:>10.1} {:>9.2} {:>17}  lateness {}, idle {}",
            kind.to_string(),
            format!(
                "{}/{}/{}",
                r.short_lateness.p50, r.short_lateness.p99, r.short_lateness.max
            ),
            (r.short.last_finished - r.short.first_received) as f64 / 1000.0,
            r.rss_before_kib as f64 / 1024.0,
            r.rss_asleep_kib as f64 / 1024.0,
            r.asleep_after.as_secs_f64(),
            r.window.as_secs_f64(),
            r.queries_per_s(),
            format!("{}/{}", r.long_lateness.p50, r.long_lateness.p99),
            super::verdict(lateness_met),
            super::verdict(idle_met)
        );
    }
    println!(
        "targets: wake-up lateness p99 < {TARGET_LATENESS_P99_MS} ms; < {TARGET_IDLE_QUERIES_PER_S:.0} database \
         queries/s while every run sleeps (statements of all pooled connections, BEGIN/COMMIT and pool health \
         checks included, counted from {} s after the last run fell asleep to {} s before the first wakes)",
        SETTLE.as_secs(),
        SETTLE.as_secs()
    );
    println!(
        "memory: VmRSS of the bench process (daemon + HTTP client), before the first event and the most while \
         every long sleeper sleeps; lateness = the sleep's resolution finished_at - its wake_at"
    );
}
