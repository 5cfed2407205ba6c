//! The one-step scenario: N events, each starting one run of `bench-one-step`; runs/s and run latency next to a
//! baseline of N plain single-row autocommit INSERTs through as many connections as the daemon writes with
//! (SQLite: its one writer; PostgreSQL: the default pool size), and next to the floor of the same N runs' rows
//! written by plain SQL ([`floor`]); with the statements and PostgreSQL transactions per run.

use super::floor::{self, Floor};
use super::fresh::{FreshDb, Kind};
use super::measure::{self, Baseline, RunFigures};
use super::user_created::transactions;
use super::{BenchArgs, client, functions};
use anyhow::Context;
use std::time::Duration;
use tokio::runtime::Runtime;

/// The targets the figures are compared with: runs at least as fast as the plain commits of the baseline (the
/// engine-core issue's target).
const TARGET_RUNS_PER_S: f64 = 1000.0;
const TARGET_RATIO: f64 = 1.0;

/// One backend's figures.
pub struct Row {
    events: usize,
    send: Duration,
    total: Duration,
    runs: RunFigures,
    baseline: Baseline,
    /// The same rows written by plain SQL, no engine ([`floor`]).
    floor: Floor,
    /// Database statements per run while sending and draining (every pooled connection of the process; `BEGIN`
    /// and `COMMIT` count).
    statements_per_run: f64,
    /// PostgreSQL transactions per run over the daemon's life (`None` on SQLite).
    transactions_per_run: Option<f64>,
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

pub fn measure(rt: &Runtime, fresh: &FreshDb, args: &BenchArgs) -> anyhow::Result<Row> {
    let n = args.events;
    let t0 = rt.block_on(transactions(fresh))?;
    let (send, total, statements) = super::with_daemon(rt, fresh, vec![functions::one_step()], async |base: &str| {
        let q0 = crate::store::db::queries_total();
        let data = |i: usize| serde_json::json!({ "i": i });
        let send = client::send_events(base, functions::ONE_STEP_EVENT, data, n, args.sending())
            .await
            .context("sending events")?;
        let drain = client::drain(base, false).await.context("waiting for the runs")?;
        anyhow::Ok((send, send + drain, crate::store::db::queries_total() - q0))
    })?;
    let t1 = rt.block_on(transactions(fresh))?;
    rt.block_on(async {
        let db = super::open(fresh).await?;
        let runs = measure::runs(&db, functions::ONE_STEP, n)
            .await
            .context("reading the runs")?;
        let baseline = measure::baseline(&db, n).await.context("baseline")?;
        let floor = floor::floor(&db, n, args.batch).await.context("the floor")?;
        Ok(Row {
            events: n,
            send,
            total,
            runs,
            baseline,
            floor,
            statements_per_run: statements as f64 / n as f64,
            transactions_per_run: t0.zip(t1).map(|(a, b)| (b - a) as f64 / n as f64),
        })
    })
}

pub fn print(args: &BenchArgs, rows: &[(Kind, Row)]) {
    println!();
    println!(
        "== one-step: {} events per backend, {} per request, {} requests in flight; one run of `{}` (1 step) each",
        args.events,
        args.batch,
        args.concurrency,
        functions::ONE_STEP
    );
    println!(
        "{:<9} {:>7} {:>7} {:>10} {:>8} {:>9} {:>7} {:>7} {:>7} {:>19} {:>14} {:>13} {:>15} {:>10}  targets",
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
        "runs/baseline",
        "floor_runs/s",
        "floor/baseline",
        "runs/floor"
    );
    for (kind, r) in rows {
        println!(
            "{:<9} {:>7} {:>7.2} {:>10.0} {:>8.2} {:>9.0} {:>7} {:>7} {:>7} {:>19.0} {:>14.2} {:>13.0} {:>15.2} {:>10.2}  {}",
            kind.to_string(),
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
            r.floor.runs_per_s,
            r.floor.runs_per_s / r.baseline.commits_per_s,
            r.runs.runs_per_s / r.floor.runs_per_s,
            r.verdict()
        );
    }
    println!(
        "targets: runs/s >= {TARGET_RUNS_PER_S:.0} per backend; runs/s >= {TARGET_RATIO} x baseline commits/s \
         (runs/baseline >= {TARGET_RATIO:.2}); the floor (no target) is the same rows by plain SQL, no engine: \
         intake, claim and step with the run's end, a transaction each per batch of {} runs",
        rows.first().map_or(args.batch, |(_, r)| r.floor.batch)
    );
    if rows.is_empty() {
        return;
    }
    println!(
        "where the time goes (ms, p50 / p99): event received -> run started -> run finished; statements per run \
         (BEGIN and COMMIT count) and PostgreSQL transactions per run (the daemon's whole life)"
    );
    for (kind, r) in rows {
        println!(
            "{:<9} received->started {:>5} / {:<5}  started->finished {:>5} / {:<5}  baseline: {} writer(s), {:.2} s  \
             floor: {} writer(s), {:.2} s  statements {:.2}  transactions {}",
            kind.to_string(),
            r.runs.queued.p50,
            r.runs.queued.p99,
            r.runs.executing.p50,
            r.runs.executing.p99,
            r.baseline.writers,
            r.baseline.elapsed.as_secs_f64(),
            r.floor.writers,
            r.floor.elapsed.as_secs_f64(),
            r.statements_per_run,
            r.transactions_per_run.map_or("n/a".to_string(), |t| format!("{t:.2}"))
        );
    }
}
