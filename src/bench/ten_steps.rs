//! The ten-steps scenario: N runs of `bench-ten-steps` (ten trivial memoized steps each). Steps/s = all steps /
//! (last run finished − first event received); the gap between consecutive steps of a run = the next step's
//! `started_at` − the previous step's `finished_at` (what persisting a step and resuming the handler costs).

use super::fresh::{FreshDb, Kind};
use super::measure::{self, Percentiles, RunFigures};
use super::{BenchArgs, client, functions};
use crate::store::schema::{runs, steps};
use anyhow::Context;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use functions::STEPS_PER_RUN;
use std::collections::HashMap;
use std::time::Duration;
use tokio::runtime::Runtime;

const TARGET_STEPS_PER_S: f64 = 5000.0;

pub struct Row {
    runs: RunFigures,
    steps_per_s: f64,
    /// Next step's started_at − previous step's finished_at, within a run.
    gap: Percentiles,
    gap_mean_ms: f64,
    /// First step's started_at − the run's started_at (claim, load, handler start).
    to_first_step: Percentiles,
    /// The run's finished_at − its last step's finished_at (last step's write, the run's completion).
    after_last_step: Percentiles,
    /// Database statements per step while sending and draining (every pooled connection of the process).
    queries_per_step: f64,
    total: Duration,
}

pub fn measure(rt: &Runtime, fresh: &FreshDb, args: &BenchArgs) -> anyhow::Result<Row> {
    let n = args.ten_step_runs;
    let (total, queries) = super::with_daemon(rt, fresh, vec![functions::ten_steps()], async |base: &str| {
        let q0 = crate::store::db::queries_total();
        let data = |i: usize| serde_json::json!({ "i": i });
        let send = client::send_events(base, functions::TEN_STEPS_EVENT, data, n, args.sending())
            .await
            .context("sending events")?;
        let drain = client::drain(base, false).await.context("waiting for the runs")?;
        anyhow::Ok((send + drain, crate::store::db::queries_total() - q0))
    })?;
    rt.block_on(async {
        let db = super::open(fresh).await?;
        let runs = measure::runs(&db, functions::TEN_STEPS, n)
            .await
            .context("reading the runs")?;
        type StepRow = (String, i32, i64, i64, Option<i64>, Option<i64>);
        let rows: Vec<StepRow> = crate::with_conn!(&db, read, |c| {
            steps::table
                .inner_join(runs::table)
                .filter(runs::function_id.eq(functions::TEN_STEPS))
                .filter(steps::status.eq("completed"))
                .select((
                    steps::run_id,
                    steps::position,
                    steps::started_at,
                    steps::finished_at,
                    runs::started_at,
                    runs::finished_at,
                ))
                .load(c)
                .await?
        });
        let total_steps = n * STEPS_PER_RUN;
        anyhow::ensure!(
            rows.len() == total_steps,
            "expected {total_steps} completed steps, found {}",
            rows.len()
        );
        let mut by_run: HashMap<String, Vec<StepRow>> = HashMap::new();
        for r in rows {
            by_run.entry(r.0.clone()).or_default().push(r);
        }
        let (mut gaps, mut first, mut last) = (Vec::new(), Vec::new(), Vec::new());
        for steps in by_run.values_mut() {
            steps.sort_by_key(|s| s.1);
            for pair in steps.windows(2) {
                gaps.push(pair[1].2 - pair[0].3);
            }
            let (head, tail) = (&steps[0], &steps[steps.len() - 1]);
            first.push(head.2 - head.4.context("a finished run has no started_at")?);
            last.push(tail.5.context("a finished run has no finished_at")? - tail.3);
        }
        let gap_mean_ms = gaps.iter().sum::<i64>() as f64 / gaps.len().max(1) as f64;
        let span_s = (runs.last_finished - runs.first_received).max(1) as f64 / 1000.0;
        Ok(Row {
            steps_per_s: total_steps as f64 / span_s,
            gap: Percentiles::of(gaps),
            gap_mean_ms,
            to_first_step: Percentiles::of(first),
            after_last_step: Percentiles::of(last),
            queries_per_step: queries as f64 / total_steps as f64,
            runs,
            total,
        })
    })
}

pub fn print(args: &BenchArgs, rows: &[(Kind, Row)]) {
    println!();
    println!(
        "== ten-steps: {} runs of `{}` ({STEPS_PER_RUN} trivial steps each) per backend",
        args.ten_step_runs,
        functions::TEN_STEPS
    );
    println!(
        "{:<9} {:>8} {:>9} {:>8} {:>12} {:>12} {:>13} {:>14} {:>11}  target",
        "backend",
        "total_s",
        "steps/s",
        "runs/s",
        "gap_p50_ms",
        "gap_p99_ms",
        "gap_mean_ms",
        "run_p50/p99_ms",
        "queries/step"
    );
    for (kind, r) in rows {
        println!(
            "{:<9} {:>8.2} {:>9.0} {:>8.0} {:>12} {:>12} {:>13.1} {:>14} {:>11.2}  {}",
            kind.to_string(),
            r.total.as_secs_f64(),
            r.steps_per_s,
            r.runs.runs_per_s,
            r.gap.p50,
            r.gap.p99,
            r.gap_mean_ms,
            format!("{}/{}", r.runs.latency.p50, r.runs.latency.p99),
            r.queries_per_step,
            super::verdict(r.steps_per_s >= TARGET_STEPS_PER_S)
        );
    }
    println!("target: steps/s >= {TARGET_STEPS_PER_S:.0} (all steps / (last run finished - first event received))");
    if rows.is_empty() {
        return;
    }
    println!("where the time goes (ms, p50 / p99): queued, run started -> first step, gaps, last step -> run finished");
    for (kind, r) in rows {
        println!(
            "{:<9} received->started {:>5} / {:<5}  started->first step {:>4} / {:<4}  step gap {:>4} / {:<4}  \
             last step->finished {:>4} / {:<4}",
            kind.to_string(),
            r.runs.queued.p50,
            r.runs.queued.p99,
            r.to_first_step.p50,
            r.to_first_step.p99,
            r.gap.p50,
            r.gap.p99,
            r.after_last_step.p50,
            r.after_last_step.p99
        );
    }
}
