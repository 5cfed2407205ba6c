//! The fan-out scenario: one event starts a `bench-fan-out` run whose `send_event` step emits N events, each
//! starting a `bench-child` run (one trivial step). The figure: the parent's event received → the last child
//! finished. There is no target for it; the children's own rate is printed next to it.

use super::fresh::{FreshDb, Kind};
use super::measure::{self, RunFigures};
use super::{BenchArgs, client, functions};
use crate::store::schema::{runs, steps};
use anyhow::Context;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tokio::runtime::Runtime;

/// Most events one `send_event` step takes (the engine's limit).
pub const MAX_CHILDREN: usize = 5_000;

pub struct Row {
    /// Parent's event received → last child finished.
    total_ms: i64,
    /// Parent's event received → its `send_event` step finished (the events and child runs are committed).
    sent_ms: i64,
    /// Parent's event received → the parent run finished.
    parent_ms: i64,
    /// Parent's event received → the first child started.
    first_child_ms: i64,
    children: RunFigures,
    queries: u64,
}

pub fn measure(rt: &Runtime, fresh: &FreshDb, args: &BenchArgs) -> anyhow::Result<Row> {
    let n = args.children;
    let functions = vec![functions::fan_out(), functions::child()];
    let queries = super::with_daemon(rt, fresh, functions, async |base: &str| {
        let q0 = crate::store::db::queries_total();
        let data = |_| serde_json::json!({ "children": n });
        let one = client::Sending {
            batch: 1,
            concurrency: 1,
        };
        client::send_events(base, functions::FAN_OUT_EVENT, data, 1, one)
            .await
            .context("sending the event")?;
        client::drain(base, false).await.context("waiting for the runs")?;
        anyhow::Ok(crate::store::db::queries_total() - q0)
    })?;
    rt.block_on(async {
        let db = super::open(fresh).await?;
        let parent = measure::runs(&db, functions::FAN_OUT, 1)
            .await
            .context("reading the parent run")?;
        let children = measure::runs(&db, functions::CHILD, n)
            .await
            .context("reading the child runs")?;
        let sent: i64 = crate::with_conn!(&db, read, |c| {
            steps::table
                .inner_join(runs::table)
                .filter(runs::function_id.eq(functions::FAN_OUT))
                .filter(steps::status.eq("completed"))
                .select(steps::finished_at)
                .first(c)
                .await?
        });
        let first_started: Option<i64> = crate::with_conn!(&db, read, |c| {
            runs::table
                .filter(runs::function_id.eq(functions::CHILD))
                .select(diesel::dsl::min(runs::started_at))
                .first(c)
                .await?
        });
        let received = parent.first_received;
        Ok(Row {
            total_ms: children.last_finished - received,
            sent_ms: sent - received,
            parent_ms: parent.last_finished - received,
            first_child_ms: first_started.context("no child run started")? - received,
            children,
            queries,
        })
    })
}

pub fn print(args: &BenchArgs, rows: &[(Kind, Row)]) {
    println!();
    println!(
        "== fan-out: one `{}` run whose send_event step emits {} events, each starting a `{}` run (1 step)",
        functions::FAN_OUT,
        args.children,
        functions::CHILD
    );
    println!(
        "{:<9} {:>16} {:>14} {:>15} {:>19} {:>11} {:>21} {:>8}",
        "backend",
        "total_ms (event",
        "step_sent_ms",
        "parent_done_ms",
        "first_child_start",
        "children/s",
        "child p50/p99 ms",
        "queries"
    );
    println!("{:<9} {:>16}", "", "-> last child)");
    for (kind, r) in rows {
        println!(
            "{:<9} {:>16} {:>14} {:>15} {:>19} {:>11.0} {:>21} {:>8}",
            kind.to_string(),
            r.total_ms,
            r.sent_ms,
            r.parent_ms,
            r.first_child_ms,
            r.children.runs_per_s,
            format!("{}/{}", r.children.latency.p50, r.children.latency.p99),
            r.queries
        );
    }
    println!(
        "all times from the parent's event received; children/s = children / (last child finished - first child \
         event received); child latency from its event received to finished; no target"
    );
}
