//! `--scenario user-created`: `--uc-events` `user/created` events enqueued at once (`--batch` per request,
//! `--concurrency` requests in flight) to `ingot serve` in its own process, then drained. Runs/s and latency
//! (event received → run finished) from the database; CPU and transactions per run ([`super::Costs`]).

use super::super::fresh::{FreshDb, Kind};
use super::super::measure::RunFigures;
use super::super::{BenchArgs, client};
use super::{Costs, or_na};
use crate::functions::people::user_created;
use anyhow::Context;
use tokio::runtime::Runtime;

/// The targets for a backlog on PostgreSQL: transactions per run.
pub const TARGET_TRANSACTIONS_PER_RUN: f64 = 3.0;

pub struct Row {
    pub events: usize,
    pub runs: RunFigures,
    pub costs: Costs,
}

pub fn measure(rt: &Runtime, fresh: &FreshDb, args: &BenchArgs) -> anyhow::Result<Row> {
    let n = args.uc_events;
    let (_, runs, costs) = super::measured(rt, fresh, "bench-user-created", n, async |base| {
        client::send(base, super::event, n, args.sending())
            .await
            .context("sending events")
    })?;
    Ok(Row { events: n, runs, costs })
}

pub fn print(args: &BenchArgs, rows: &[(Kind, Row)]) {
    println!();
    println!(
        "== user-created (batched): {} `user/created` events per backend, {} per request, {} requests in flight, \
         to `ingot serve` in its own process; `{}` (5 memoized steps, platform writes) each",
        args.uc_events,
        args.batch,
        args.concurrency,
        user_created::ID
    );
    println!(
        "{:<9} {:>7} {:>8} {:>7} {:>7} {:>7} {:>14} {:>16} {:>11} {:>13}  targets",
        "backend",
        "runs",
        "runs/s",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "daemon_cpu_ms",
        "postgres_cpu_ms",
        "statements",
        "transactions"
    );
    for (kind, r) in rows {
        let tx = r.costs.transactions_per_run(r.events);
        let verdict = match tx {
            Some(t) if t <= TARGET_TRANSACTIONS_PER_RUN => "met",
            Some(_) => "missed: transactions",
            None => "-",
        };
        println!(
            "{:<9} {:>7} {:>8.0} {:>7} {:>7} {:>7} {:>14.2} {:>16} {:>11.1} {:>13}  {verdict}",
            kind.to_string(),
            r.events,
            r.runs.runs_per_s,
            r.runs.latency.p50,
            r.runs.latency.p99,
            r.runs.latency.max,
            r.costs.daemon_ms_per_run(r.events),
            or_na(r.costs.postgres_ms_per_run(*kind, r.events), 16, 2),
            r.costs.statements_per_run(r.events),
            or_na(tx, 13, 2),
        );
    }
    println!(
        "per run: daemon and PostgreSQL-server CPU ms, SQL statements the daemon sent (BEGIN, COMMIT and savepoints \
         included), database transactions (PostgreSQL xact_commit + xact_rollback \
         of the bench's database, daemon start to stop). Target (PostgreSQL): <= {TARGET_TRANSACTIONS_PER_RUN:.0} \
         transactions per run; the throughput targets are relative to the non-durable floor of ../shared/peers \
         (graphile-worker, one job), measured there"
    );
}
