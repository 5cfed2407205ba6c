//! `--scenario user-created-steady`: `user/created` events sent ONE PER REQUEST on a fixed schedule, event i due
//! at t0 + i / `--steady-rate`, for `--steady-seconds`, over `--steady-conns` keep-alive connections (open loop: a
//! slow answer delays only its connection; a send later than its due time is counted as pacer lag). Then drained.
//! Latency per run: event received → run finished, from the database (both stamped by the daemon). Like
//! `../shared/peers/ingot/steady.py`, in Rust and without Python's client overhead on the same two cores.

use super::super::fresh::{FreshDb, Kind};
use super::super::measure::{Percentiles, RunFigures};
use super::super::{BenchArgs, client, inproc};
use super::{Costs, or_na};
use anyhow::Context;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::time::Instant;

/// The targets at 500 events/s: p99 received → finished, daemon CPU per run, transactions per run.
pub const TARGET_P99_MS: i64 = 25;
pub const TARGET_DAEMON_CPU_MS: f64 = 1.0;
pub const TARGET_TRANSACTIONS_PER_RUN: f64 = 4.0;

pub struct Row {
    pub rate: u32,
    pub events: usize,
    pub runs: RunFigures,
    /// send − due, in µs.
    pub lag_us: Percentiles,
    /// answer − send, in µs.
    pub answer_us: Percentiles,
    pub costs: Costs,
}

impl Row {
    fn verdict(&self, kind: Kind) -> String {
        let mut missed = Vec::new();
        if self.runs.latency.p99 >= TARGET_P99_MS {
            missed.push("p99");
        }
        if self.costs.daemon_ms_per_run(self.events) > TARGET_DAEMON_CPU_MS {
            missed.push("cpu");
        }
        if kind == Kind::Postgres
            && self
                .costs
                .transactions_per_run(self.events)
                .is_some_and(|t| t > TARGET_TRANSACTIONS_PER_RUN)
        {
            missed.push("transactions");
        }
        if missed.is_empty() {
            "met".into()
        } else {
            format!("missed: {}", missed.join(", "))
        }
    }
}

/// One connection's loop: takes the next index, waits until it is due, sends it alone. Returns (lag, answer) per
/// event sent, in µs.
async fn sender(
    url: Arc<String>,
    next: Arc<AtomicUsize>,
    total: usize,
    t0: Instant,
    rate: f64,
) -> anyhow::Result<Vec<(i64, i64)>> {
    let http = crate::tls::http_client_builder()
        .pool_max_idle_per_host(1)
        .build()
        .context("an HTTP client")?;
    let mut out = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            return Ok(out);
        }
        let due = t0 + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due).await;
        let sent = Instant::now();
        let body = serde_json::Value::Array(vec![super::event(i)]).to_string();
        let ids = client::post(&http, &url, body)
            .await
            .with_context(|| format!("event {i}"))?;
        anyhow::ensure!(ids == 1, "event {i}: {ids} ids answered");
        out.push(((sent - due).as_micros() as i64, sent.elapsed().as_micros() as i64));
    }
}

pub fn measure(rt: &Runtime, fresh: &FreshDb, args: &BenchArgs) -> anyhow::Result<Row> {
    let rate = args.steady_rate;
    let n = (rate as f64 * args.steady_seconds.as_secs_f64()).round().max(1.0) as usize;
    let (sent, runs, costs) = super::measured(rt, fresh, "bench-user-created-steady", n, async |base| {
        let url = Arc::new(format!("{base}/e/{}", inproc::EVENT_KEY));
        let next = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now() + Duration::from_millis(200);
        let tasks: Vec<_> = (0..args.steady_conns)
            .map(|_| tokio::spawn(sender(url.clone(), next.clone(), n, t0, rate as f64)))
            .collect();
        let mut all: Vec<(i64, i64)> = Vec::with_capacity(n);
        for t in tasks {
            all.extend(t.await.context("a sender panicked")??);
        }
        anyhow::Ok(all)
    })?;
    Ok(Row {
        rate,
        events: n,
        runs,
        lag_us: Percentiles::of(sent.iter().map(|s| s.0).collect()),
        answer_us: Percentiles::of(sent.iter().map(|s| s.1).collect()),
        costs,
    })
}

pub fn print(args: &BenchArgs, rows: &[(Kind, Row)]) {
    let ms = |us: i64| us as f64 / 1000.0;
    println!();
    println!(
        "== user-created (steady): one `user/created` event per request at {}/s for {} over {} connections, to \
         `ingot serve` in its own process",
        args.steady_rate,
        humantime::format_duration(args.steady_seconds),
        args.steady_conns
    );
    println!(
        "{:<9} {:>6} {:>7} {:>7} {:>7} {:>7} {:>10} {:>13} {:>11} {:>11} {:>12} {:>14} {:>16} {:>11} {:>13}  targets",
        "backend",
        "rate",
        "runs",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "queued_p99",
        "executing_p99",
        "answer_p99",
        "lag_p99_ms",
        "runs/s",
        "daemon_cpu_ms",
        "postgres_cpu_ms",
        "statements",
        "transactions"
    );
    for (kind, r) in rows {
        println!(
            "{:<9} {:>6} {:>7} {:>7} {:>7} {:>7} {:>10} {:>13} {:>11.1} {:>11.1} {:>12.0} {:>14.2} {:>16} \
             {:>11.1} {:>13}  {}",
            kind.to_string(),
            r.rate,
            r.events,
            r.runs.latency.p50,
            r.runs.latency.p99,
            r.runs.latency.max,
            r.runs.queued.p99,
            r.runs.executing.p99,
            ms(r.answer_us.p99),
            ms(r.lag_us.p99),
            r.runs.runs_per_s,
            r.costs.daemon_ms_per_run(r.events),
            or_na(r.costs.postgres_ms_per_run(*kind, r.events), 16, 2),
            r.costs.statements_per_run(r.events),
            or_na(r.costs.transactions_per_run(r.events), 13, 2),
            r.verdict(*kind)
        );
    }
    println!(
        "latency: event received -> run finished (ms, from the database), split into queued (received -> \
         started: intake commit, wake-up, claim) and executing (started -> finished: the steps and their writes); \
         answer_p99: the POST's answer time; \
         lag_p99: sends later than due (the client falling behind, not the daemon). Targets at 500/s: p99 < \
         {TARGET_P99_MS} ms, daemon CPU <= {TARGET_DAEMON_CPU_MS} ms per run, PostgreSQL <= \
         {TARGET_TRANSACTIONS_PER_RUN:.0} transactions per run"
    );
}
