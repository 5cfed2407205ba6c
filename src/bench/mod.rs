//! `ingot bench`: throughput and latency through the real HTTP API and engine, per backend, next to a baseline of
//! plain single-row commits on the same database. It prints figures; it is not a pass/fail test.
//!
//! For each backend:
//! 1. a fresh database ([`fresh`]): an SQLite file in a new temp dir, or a new PostgreSQL database on the server
//!    named by `--pg-url`; removed afterwards;
//! 2. the real daemon in-process ([`inproc`]) with one extra function, `bench-one-step` (one step, no retries);
//! 3. N events POSTed in batches of B, C requests in flight, then `GET /api/v1/drain` ([`client`]);
//! 4. figures read back from the database ([`measure`]): runs/s = N / (last run finished − first event received);
//!    latency of a run = its `finished_at` − its event's `received_at`;
//! 5. the baseline: N single-row autocommit INSERTs through as many connections as the daemon writes with
//!    (SQLite: its one writer; PostgreSQL: the default pool size).

mod client;
mod fresh;
mod inproc;
mod measure;

use crate::config::Config;
use anyhow::Context;
use fresh::{FreshDb, Kind};
use measure::{Baseline, RunFigures};
use std::collections::BTreeMap;
use std::time::Duration;

/// The administration URL used when neither `--pg-url` nor `INGOT_TEST_DATABASE_URL` is set.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The targets the figures are compared with.
const TARGET_RUNS_PER_S: f64 = 1000.0;
const TARGET_RATIO: f64 = 0.5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Events to send per backend; each starts one run of `bench-one-step`.
    #[arg(long, default_value_t = 5000)]
    pub events: usize,
    /// Which backend(s) to measure.
    #[arg(long, value_enum, default_value_t = BackendChoice::Both)]
    pub backend: BackendChoice,
    /// A PostgreSQL URL with the right to create databases; the bench creates and drops its own database there.
    #[arg(long, env = "INGOT_TEST_DATABASE_URL", hide_env_values = true, default_value = DEFAULT_PG_URL)]
    pub pg_url: String,
    /// Events per HTTP request (1–5000).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// HTTP requests in flight at a time.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
}

/// One backend's figures.
struct Row {
    kind: Kind,
    events: usize,
    send: Duration,
    total: Duration,
    runs: RunFigures,
    baseline: Baseline,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.runs.runs_per_s / self.baseline.commits_per_s
    }

    fn verdict(&self) -> &'static str {
        match (self.runs.runs_per_s >= TARGET_RUNS_PER_S, self.ratio() >= TARGET_RATIO) {
            (true, true) => "met",
            (false, true) => "missed: runs/s",
            (true, false) => "missed: ratio",
            (false, false) => "missed: both",
        }
    }
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.events >= 1, "--events must be at least 1");
    anyhow::ensure!(
        (1..=crate::http::intake::MAX_EVENTS).contains(&args.batch),
        "--batch must be between 1 and {}",
        crate::http::intake::MAX_EVENTS
    );
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    let kinds = match args.backend {
        BackendChoice::Sqlite => vec![Kind::Sqlite],
        BackendChoice::Postgres => vec![Kind::Postgres],
        BackendChoice::Both => vec![Kind::Sqlite, Kind::Postgres],
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the client runtime")?;

    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for kind in kinds {
        match bench_backend(&rt, kind, &args) {
            Ok(row) => rows.push(row),
            Err(e) => failures.push((kind, e)),
        }
    }
    print_report(&args, &rows, &failures);
    if failures.is_empty() {
        Ok(())
    } else {
        let names: Vec<String> = failures.iter().map(|(k, _)| k.to_string()).collect();
        anyhow::bail!("the bench failed on {}", names.join(", "))
    }
}

/// Creates the fresh database, measures, and removes the database whatever happened.
fn bench_backend(rt: &tokio::runtime::Runtime, kind: Kind, args: &BenchArgs) -> anyhow::Result<Row> {
    let fresh = rt
        .block_on(FreshDb::create(kind, &args.pg_url))
        .with_context(|| format!("{kind}: cannot create a fresh database"))?;
    let row = measure_on(rt, kind, &fresh, args).with_context(|| format!("{kind} ({})", fresh.url.redacted()));
    let place = fresh.describe();
    if let Err(e) = rt.block_on(fresh.remove()) {
        eprintln!("ingot bench: warning: could not remove {place}: {e:#}");
    }
    row
}

fn measure_on(rt: &tokio::runtime::Runtime, kind: Kind, fresh: &FreshDb, args: &BenchArgs) -> anyhow::Result<Row> {
    let daemon = inproc::Daemon::start(fresh.config_url()).context("the daemon did not start")?;
    let base = format!("http://{}", daemon.addr);
    let phases = rt.block_on(async {
        let send = client::send_events(&base, args.events, args.batch, args.concurrency)
            .await
            .context("sending events")?;
        let drain = client::drain(&base).await.context("waiting for the runs")?;
        anyhow::Ok((send, send + drain))
    });
    let stopped = daemon.stop();
    let (send, total) = phases?;
    stopped.context("the daemon did not stop cleanly")?;

    rt.block_on(async {
        let db = crate::store::Db::connect(&fresh.url, &crate::store::PoolOptions::default())
            .await
            .context("cannot open the database to measure")?;
        let runs = measure::runs(&db, args.events).await.context("reading the runs")?;
        let baseline = measure::baseline(&db, args.events).await.context("baseline")?;
        Ok(Row {
            kind,
            events: args.events,
            send,
            total,
            runs,
            baseline,
        })
    })
}

fn print_report(args: &BenchArgs, rows: &[Row], failures: &[(Kind, anyhow::Error)]) {
    let defaults = Config::from_values(&BTreeMap::new()).ok();
    println!();
    println!(
        "ingot bench: {} events per backend, {} per request, {} requests in flight; one run of `{}` (1 step) each",
        args.events,
        args.batch,
        args.concurrency,
        inproc::FUNCTION_ID
    );
    if let Some(c) = defaults {
        println!(
            "daemon: default settings (http_workers={}, max_runs_per_function={}, database_pool_size={}, \
             sqlite_synchronous={}, poll_interval={})",
            c.http_workers,
            c.max_runs_per_function,
            c.pool.size,
            c.pool.sqlite_synchronous,
            humantime::format_duration(c.poll_interval)
        );
    }
    println!();
    println!(
        "{:<9} {:>7} {:>7} {:>10} {:>8} {:>9} {:>7} {:>7} {:>7} {:>19} {:>14}  targets",
        "backend",
        "events",
        "send_s",
        "accepted/s",
        "total_s",
        "runs/s",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "baseline_commits/s",
        "runs/baseline"
    );
    for r in rows {
        println!(
            "{:<9} {:>7} {:>7.2} {:>10.0} {:>8.2} {:>9.0} {:>7} {:>7} {:>7} {:>19.0} {:>14.2}  {}",
            r.kind.to_string(),
            r.events,
            r.send.as_secs_f64(),
            r.events as f64 / r.send.as_secs_f64(),
            r.total.as_secs_f64(),
            r.runs.runs_per_s,
            r.runs.latency.p50,
            r.runs.latency.p99,
            r.runs.latency.max,
            r.baseline.commits_per_s,
            r.ratio(),
            r.verdict()
        );
    }
    for (kind, _) in failures {
        println!("{:<9} FAILED (see below)", kind.to_string());
    }
    println!(
        "targets: runs/s >= {TARGET_RUNS_PER_S:.0} per backend; runs/s >= {TARGET_RATIO} x baseline commits/s \
         (runs/baseline >= {TARGET_RATIO:.2})"
    );
    if !rows.is_empty() {
        println!();
        println!("where the time goes (ms, p50 / p99): event received -> run started -> run finished");
        for r in rows {
            println!(
                "{:<9} received->started {:>5} / {:<5}  started->finished {:>5} / {:<5}  baseline: {} writer(s), {:.2} s",
                r.kind.to_string(),
                r.runs.queued.p50,
                r.runs.queued.p99,
                r.runs.executing.p50,
                r.runs.executing.p99,
                r.baseline.writers,
                r.baseline.elapsed.as_secs_f64()
            );
        }
    }
    for (kind, e) in failures {
        println!();
        println!("{kind}: FAILED: {e:#}");
    }
}
