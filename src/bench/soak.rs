//! The soak scenario: a steady rate of events (`--rate` per second) for `--duration` (default 1 h), a mix of
//! workflows, with retention running, and one row every `--report-every`: memory, database size, open
//! connections, latency and runs finished. Growth must flatten once retention prunes as fast as runs finish.
//!
//! The mix, by event: 50 % `bench-one-step`, 20 % `bench-ten-steps`, 20 % `bench-sleep` (a 1 s `step.sleep`),
//! 10 % `bench-fan-out` emitting two `bench-child` runs. Events are sent every 100 ms in one request each, as many
//! as keep the rate since the start.
//!
//! Retention: the daemon's horizon is set to `--soak-retention` (default 5 min) and its pruner runs every 10 s. The
//! setting itself refuses less than 1 h; the bench sets the validated config directly, so a short run flattens.
//!
//! A row: `rss_MiB` is the resident memory of this process (the daemon runs in-process; the sender is small);
//! `db_MiB` the SQLite file with its WAL, or `pg_database_size`; on SQLite `wal_MiB` the WAL alone and
//! `free_pages` the file's free-list pages (`PRAGMA freelist_count`; `-` on PostgreSQL); `conns` PostgreSQL
//! sessions on the database other than the measuring one, or on SQLite the open file descriptors on the database
//! file (each connection holds one; the measuring reader included); `events`/`runs` the rows in the tables now;
//! `dedupe` the rows of `event_ids` and `idempotency_keys`, which retention keeps for their 24 h window whatever
//! the horizon (here: the fan-out's child events, whose ids make a replayed `send_event` step harmless), so they,
//! and the file with them, grow for the first 24 h of a steady load; `unfinished` runs queued or running;
//! latency = run finished − event received for the runs of the window that do not sleep (p50/p99/max, ms);
//! `finished` runs completed in the window and `failed` runs failed in it.

use super::fresh::{FreshDb, Kind};
use super::measure::{Percentiles, memory_kib};
use super::{BenchArgs, client, functions};
use crate::store::schema::{event_ids, events, idempotency_keys, runs};
use crate::store::{Backend, DatabaseUrl, Db, PoolOptions};
use anyhow::Context;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use ingot_actors::run::state::RunStatus;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// How often the sender posts.
const SEND_TICK: Duration = Duration::from_millis(100);
/// The pruner's pace during the soak.
const PRUNE_INTERVAL: Duration = Duration::from_secs(10);

/// One report row.
#[derive(Debug, Clone)]
pub struct Row {
    pub at: Duration,
    pub rss_mib: f64,
    pub db_mib: f64,
    /// SQLite: the WAL file, and the free-list pages of the database file.
    pub wal_mib: Option<f64>,
    pub free_pages: Option<i64>,
    pub conns: i64,
    pub events: i64,
    pub runs: i64,
    pub dedupe: i64,
    pub unfinished: i64,
    pub latency: Percentiles,
    pub finished: i64,
    pub failed: i64,
    pub sent: u64,
}

/// The whole soak: the rows, then the totals.
pub struct Soak {
    pub rows: Vec<Row>,
    pub sent: u64,
}

/// The event of the `i`-th send, by the mix.
fn mixed(i: u64) -> serde_json::Value {
    match i % 10 {
        0..5 => json!({"name": functions::ONE_STEP_EVENT, "data": {"i": i}}),
        5 | 6 => json!({"name": functions::TEN_STEPS_EVENT, "data": {"i": i}}),
        7 | 8 => json!({"name": functions::SLEEP_EVENT, "data": {"i": i, "sleep_ms": 1000}}),
        _ => json!({"name": functions::FAN_OUT_EVENT, "data": {"i": i, "children": 2}}),
    }
}

pub fn measure(rt: &Runtime, fresh: &FreshDb, args: &BenchArgs) -> anyhow::Result<Soak> {
    let fns = vec![
        functions::one_step(),
        functions::ten_steps(),
        functions::sleep(),
        functions::fan_out(),
        functions::child(),
    ];
    let (retention, cache_kib) = (args.soak_retention, args.soak_sqlite_cache_kib);
    let tune = move |c: &mut crate::config::Config| {
        c.retention = retention;
        c.prune_interval = PRUNE_INTERVAL;
        if let Some(kib) = cache_kib {
            c.pool.sqlite_cache_kib = kib;
        }
    };
    let kind = match fresh.url {
        DatabaseUrl::Sqlite(_) => Kind::Sqlite,
        DatabaseUrl::Postgres(_) => Kind::Postgres,
    };
    super::with_tuned_daemon(rt, fresh, fns, tune, async |base: &str| {
        let db = Db::connect(
            &fresh.url,
            &PoolOptions {
                size: 1,
                ..PoolOptions::default()
            },
        )
        .await
        .context("cannot open the database to measure")?;
        let sent = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sender = tokio::spawn(send_steadily(base.to_string(), args.rate, sent.clone(), stop.clone()));
        let started = Instant::now();
        let mut rows = Vec::new();
        let mut window_start = ingot_actors::time::now_ms();
        let mut next = args.report_every;
        let result = async {
            while next <= args.duration {
                tokio::time::sleep_until((started + next).into()).await;
                anyhow::ensure!(!sender.is_finished(), "the sender stopped early");
                let now = ingot_actors::time::now_ms();
                let row = sample(
                    &db,
                    fresh,
                    started.elapsed(),
                    window_start,
                    now,
                    AtomicU64::load(&sent, Ordering::Relaxed),
                )
                .await?;
                print_row(kind, &row);
                rows.push(row);
                window_start = now;
                next += args.report_every;
            }
            anyhow::Ok(())
        }
        .await;
        stop.store(true, Ordering::Relaxed);
        let sending = sender.await.context("the sender panicked")?;
        result?;
        sending?;
        client::drain(base, true).await.context("waiting for the last runs")?;
        Ok(Soak {
            rows,
            sent: AtomicU64::load(&sent, Ordering::Relaxed),
        })
    })
}

/// Posts the mix every [`SEND_TICK`], as many events as keep `rate` per second since the start.
async fn send_steadily(base: String, rate: u32, sent: Arc<AtomicU64>, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let http = crate::tls::http_client();
    let url = format!("{base}/e/{}", super::inproc::EVENT_KEY);
    let started = Instant::now();
    let mut tick = tokio::time::interval(SEND_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut i = 0u64;
    while !AtomicBool::load(&stop, Ordering::Relaxed) {
        tick.tick().await;
        let due = (started.elapsed().as_secs_f64() * f64::from(rate)) as u64;
        let n = due.saturating_sub(i).min(crate::http::intake::MAX_EVENTS as u64);
        if n == 0 {
            continue;
        }
        let batch: Vec<serde_json::Value> = (i..i + n).map(mixed).collect();
        let accepted = client::post(&http, &url, serde_json::Value::Array(batch).to_string()).await?;
        anyhow::ensure!(accepted as u64 == n, "{n} events sent, {accepted} accepted");
        i += n;
        sent.store(i, Ordering::Relaxed);
    }
    Ok(())
}

async fn sample(db: &Db, fresh: &FreshDb, at: Duration, from_ms: i64, to_ms: i64, sent: u64) -> anyhow::Result<Row> {
    let (rss_kib, _) = memory_kib()?;
    let (db_bytes, conns) = match (&fresh.url, db.backend()) {
        (DatabaseUrl::Sqlite(path), Backend::Sqlite) => (sqlite_bytes(path), sqlite_fds(path)),
        _ => pg_size_and_sessions(db).await?,
    };
    let (wal_mib, free_pages) = match (&fresh.url, db.backend()) {
        (DatabaseUrl::Sqlite(path), Backend::Sqlite) => (
            Some(file_bytes(&wal_path(path)) as f64 / (1024.0 * 1024.0)),
            Some(sqlite_free_pages(db).await?),
        ),
        _ => (None, None),
    };
    let events_n: i64 = crate::with_conn!(db, read, |c| events::table.count().get_result(c).await?);
    let runs_n: i64 = crate::with_conn!(db, read, |c| runs::table.count().get_result(c).await?);
    let dedupe: i64 = crate::with_conn!(db, read, |c| {
        let ids: i64 = event_ids::table.count().get_result(c).await?;
        let keys: i64 = idempotency_keys::table.count().get_result(c).await?;
        ids + keys
    });
    let unfinished: i64 = crate::with_conn!(db, read, |c| {
        runs::table
            .filter(runs::status.eq_any([RunStatus::Queued.as_str(), RunStatus::Running.as_str()]))
            .count()
            .get_result(c)
            .await?
    });
    type Finished = (i64, Option<i64>, String, String);
    let rows: Vec<Finished> = crate::with_conn!(db, read, |c| {
        runs::table
            .inner_join(events::table)
            .filter(runs::finished_at.ge(from_ms).and(runs::finished_at.lt(to_ms)))
            .select((events::received_at, runs::finished_at, runs::function_id, runs::status))
            .load(c)
            .await?
    });
    let (mut latency, mut finished, mut failed) = (Vec::new(), 0, 0);
    for (received, done, function, status) in rows {
        if status == RunStatus::Failed.as_str() {
            failed += 1;
        }
        if status != RunStatus::Completed.as_str() {
            continue;
        }
        finished += 1;
        if function != functions::SLEEP
            && let Some(done) = done
        {
            latency.push(done - received);
        }
    }
    Ok(Row {
        at,
        rss_mib: rss_kib as f64 / 1024.0,
        db_mib: db_bytes as f64 / (1024.0 * 1024.0),
        wal_mib,
        free_pages,
        conns,
        events: events_n,
        runs: runs_n,
        dedupe,
        unfinished,
        latency: Percentiles::of(latency),
        finished,
        failed,
        sent,
    })
}

/// The database file and its WAL.
fn sqlite_bytes(path: &std::path::Path) -> u64 {
    file_bytes(path) + file_bytes(&wal_path(path))
}

fn file_bytes(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn wal_path(path: &std::path::Path) -> std::path::PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    wal.into()
}

/// Pages on the database file's free list: space SQLite reuses before it grows the file.
async fn sqlite_free_pages(db: &Db) -> anyhow::Result<i64> {
    #[derive(QueryableByName)]
    struct Free {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        freelist_count: i64,
    }
    let f: Free = crate::with_conn!(db, read, |c| {
        diesel::sql_query("PRAGMA freelist_count").get_result(c).await?
    });
    Ok(f.freelist_count)
}

/// Open file descriptors of this process on the database file: one per SQLite connection.
fn sqlite_fds(path: &std::path::Path) -> i64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return -1;
    };
    dir.filter_map(Result::ok)
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == path))
        .count() as i64
}

async fn pg_size_and_sessions(db: &Db) -> anyhow::Result<(u64, i64)> {
    #[derive(QueryableByName)]
    struct Figures {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        size: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        sessions: i64,
    }
    let f: Figures = crate::with_conn!(db, read, |c| {
        diesel::sql_query(
            "SELECT pg_database_size(current_database())::BIGINT AS size, \
             (SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
              AND pid <> pg_backend_pid())::BIGINT AS sessions",
        )
        .get_result(c)
        .await?
    });
    Ok((f.size as u64, f.sessions))
}

pub fn print_header(args: &BenchArgs) {
    println!();
    println!(
        "== soak: {} events/s for {} (report every {}, retention {}, SQLite cache {} KiB per connection), mix 50% \
         one-step / 20% ten-steps / 20% sleep 1s / 10% fan-out x2",
        args.rate,
        humantime::format_duration(args.duration),
        humantime::format_duration(args.report_every),
        humantime::format_duration(args.soak_retention),
        args.soak_sqlite_cache_kib.unwrap_or(crate::store::db::SQLITE_CACHE_KIB)
    );
    println!(
        "{:<9} {:>7} {:>8} {:>8} {:>8} {:>10} {:>6} {:>8} {:>8} {:>8} {:>10} {:>18} {:>9} {:>7} {:>9}",
        "backend",
        "at_s",
        "rss_MiB",
        "db_MiB",
        "wal_MiB",
        "free_pages",
        "conns",
        "events",
        "runs",
        "dedupe",
        "unfinished",
        "lat_p50/p99/max_ms",
        "finished",
        "failed",
        "sent"
    );
}

fn print_row(kind: Kind, r: &Row) {
    println!(
        "{:<9} {:>7.0} {:>8.1} {:>8.2} {:>8} {:>10} {:>6} {:>8} {:>8} {:>8} {:>10} {:>18} {:>9} {:>7} {:>9}",
        kind.to_string(),
        r.at.as_secs_f64(),
        r.rss_mib,
        r.db_mib,
        r.wal_mib.map_or("-".to_string(), |w| format!("{w:.2}")),
        r.free_pages.map_or("-".to_string(), |f| f.to_string()),
        r.conns,
        r.events,
        r.runs,
        r.dedupe,
        r.unfinished,
        format!("{}/{}/{}", r.latency.p50, r.latency.p99, r.latency.max),
        r.finished,
        r.failed,
        r.sent
    );
}

pub fn print(args: &BenchArgs, rows: &[(Kind, Soak)]) {
    for (kind, soak) in rows {
        let rss: Vec<f64> = soak.rows.iter().map(|r| r.rss_mib).collect();
        let db: Vec<f64> = soak.rows.iter().map(|r| r.db_mib).collect();
        let fmt = |v: &[f64]| {
            v.iter()
                .copied()
                .fold(None, |m: Option<(f64, f64)>, x| {
                    Some(m.map_or((x, x), |(a, b)| (a.min(x), b.max(x))))
                })
                .map_or("-".to_string(), |(a, b)| format!("{a:.1}..{b:.1}"))
        };
        println!(
            "{:<9} soak done: {} events sent at {}/s; rss_MiB {}, db_MiB {}, failed runs {}",
            kind.to_string(),
            soak.sent,
            args.rate,
            fmt(&rss),
            fmt(&db),
            soak.rows.iter().map(|r| r.failed).sum::<i64>()
        );
    }
}
