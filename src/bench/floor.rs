//! The floor of a one-step run: the rows and status changes the engine writes for one run of `bench-one-step`,
//! written by plain SQL with no engine at all — no HTTP, no actors, no claim query, no group commit, the run ids
//! known in advance. What a durable run costs the database alone, next to the plain-commit baseline
//! ([`super::measure::baseline`]): an engine writing these rows in batches of the same size on the same schema
//! cannot make its runs faster than this floor.
//!
//! Per batch of runs (the bench's `--batch`, as the intake stores one request's events), three transactions, as
//! the engine needs them: the intake (the events and their runs, `queued`), the claim (queued → running, a new
//! lease token) and the step with the run's end (its step attempt, running → completed). Statuses are written
//! through the door (`store::runs::status`). As many writers as the baseline has (SQLite's one writer,
//! PostgreSQL's default pool); the rows are checked, then deleted.

use crate::store::runs::status;
use crate::store::sql::{Param, Stmt, Tx};
use crate::store::{Backend, Db, Error, PoolOptions};
use anyhow::Context;
use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use ingot_actors::run::state::{RunEvent, RunStatus, StepStatus};
use std::time::Duration;

/// The function id of the floor's runs (no pool has it: nothing but this module touches them).
const FUNCTION: &str = "bench-floor";
/// The event name of the floor's events.
const EVENT: &str = "bench/floor";
/// The most runs one batch writes (the intake's statements take at most 1,000 rows).
const MAX_BATCH: usize = 1000;

#[derive(Debug)]
pub struct Floor {
    pub runs_per_s: f64,
    pub writers: usize,
    pub batch: usize,
    pub elapsed: Duration,
}

/// Writes `n` runs' rows in batches of `batch` through the baseline's number of writers, checks that all `n` runs
/// completed with one completed step each, and deletes them.
pub async fn floor(db: &Db, n: usize, batch: usize) -> anyhow::Result<Floor> {
    let batch = batch.clamp(1, MAX_BATCH);
    let writers = match db.backend() {
        Backend::Sqlite => 1,
        Backend::Postgres => PoolOptions::default().size,
    };
    let batches: Vec<Vec<Run>> = (0..n)
        .map(|_| Run::new())
        .collect::<Vec<_>>()
        .chunks(batch)
        .map(<[Run]>::to_vec)
        .collect();
    let mut shares: Vec<Vec<Vec<Run>>> = vec![Vec::new(); writers];
    for (i, b) in batches.into_iter().enumerate() {
        shares[i % writers].push(b);
    }
    let elapsed = super::measure::concurrently(db, shares, "a floor writer", async |db, share| {
        write_share(&db, share).await
    })
    .await?;
    let written = check_and_delete(db).await?;
    anyhow::ensure!(
        written == (n as i64, n as i64),
        "the floor wrote {n} runs: found (completed runs, completed steps) = {written:?}"
    );
    Ok(Floor {
        runs_per_s: n as f64 / elapsed.as_secs_f64(),
        writers,
        batch,
        elapsed,
    })
}

#[derive(Debug, Clone)]
struct Run {
    id: String,
    event_id: String,
}

impl Run {
    fn new() -> Run {
        Run {
            id: uuid::Uuid::now_v7().to_string(),
            event_id: uuid::Uuid::now_v7().to_string(),
        }
    }
}

/// One writer: its batches one after the other, three transactions each, on one pooled connection.
async fn write_share(db: &Db, share: Vec<Vec<Run>>) -> anyhow::Result<()> {
    crate::with_conn!(db, write, |c| {
        for runs in &share {
            let (intake, claim, finish) = statements(runs)?;
            for group in [vec![intake.0, intake.1], vec![claim], vec![finish.0, finish.1]] {
                crate::write_tx!(c, Error, async |tx| {
                    for s in &group {
                        tx.exec(s).await?;
                    }
                    Ok(())
                })
                .await
                .context("a floor transaction")?;
            }
        }
    });
    Ok(())
}

type Pair = (Stmt, Stmt);

/// The batch's statements: the intake's two inserts, the claim, and the step's insert with the run's end.
fn statements(runs: &[Run]) -> anyhow::Result<(Pair, Stmt, Pair)> {
    let at = ingot_actors::time::now_ms();
    let mut events = Stmt::new("INSERT INTO events (id, name, data, user_data, ts, received_at) VALUES ");
    events.push_values(runs.iter().map(|r| {
        vec![
            Param::Text(r.event_id.clone()),
            Param::Text(EVENT.into()),
            Param::Text(r#"{"i":0}"#.into()),
            Param::Text("{}".into()),
            Param::BigInt(at),
            Param::BigInt(at),
        ]
    }));
    let mut new_runs =
        Stmt::new("INSERT INTO runs (id, function_id, event_id, status, run_at, created_at, updated_at) VALUES ");
    new_runs.push_values(runs.iter().map(|r| {
        vec![
            Param::Text(r.id.clone()),
            Param::Text(FUNCTION.into()),
            Param::Text(r.event_id.clone()),
            status::initial(),
            Param::BigInt(at),
            Param::BigInt(at),
            Param::BigInt(at),
        ]
    }));
    let ids = || runs.iter().map(|r| Param::Text(r.id.clone()));
    let mut claim = Stmt::new("");
    let set = status::set(&mut claim, &[RunEvent::Claimed])?;
    let queued = status::source(&mut claim, RunEvent::Claimed, RunStatus::Queued)?;
    let owner = claim.bind(Param::Text("bench".into()));
    let started = claim.bind(Param::BigInt(at));
    claim.push_sql(&format!(
        "UPDATE runs SET {set}, lease_owner = {owner}, lease_token = lease_token + 1, started_at = {started}, \
         updated_at = {started} WHERE status = {queued} AND id IN ("
    ));
    claim.push_list(ids());
    claim.push_sql(")");
    let mut step = Stmt::new(
        "INSERT INTO steps (run_id, step_key, attempt, position, name, status, output, started_at, finished_at) \
         VALUES ",
    );
    step.push_values(runs.iter().map(|r| {
        vec![
            Param::Text(r.id.clone()),
            Param::Text("step".into()),
            Param::Int(0),
            Param::Int(0),
            Param::Text("step".into()),
            Param::Text(StepStatus::Completed.as_str().into()),
            Param::Text("1".into()),
            Param::BigInt(at),
            Param::BigInt(at),
        ]
    }));
    let mut end = Stmt::new("");
    let set = status::set(&mut end, &[RunEvent::Succeeded])?;
    let running = status::source(&mut end, RunEvent::Succeeded, RunStatus::Running)?;
    let output = end.bind(Param::Text("1".into()));
    let finished = end.bind(Param::BigInt(at));
    end.push_sql(&format!(
        "UPDATE runs SET {set}, output = {output}, finished_at = {finished}, updated_at = {finished} \
         WHERE status = {running} AND id IN ("
    ));
    end.push_list(ids());
    end.push_sql(")");
    Ok(((events, new_runs), claim, (step, end)))
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The floor's completed runs and completed steps; then its rows are deleted.
async fn check_and_delete(db: &Db) -> anyhow::Result<(i64, i64)> {
    let mut runs = Stmt::new("SELECT COUNT(*) AS n FROM runs WHERE function_id = $1 AND status = ");
    runs.params.push(Param::Text(FUNCTION.into()));
    let completed = status::param(&mut runs, RunStatus::Completed);
    runs.push_sql(&completed);
    let mut steps = Stmt::new(
        "SELECT COUNT(*) AS n FROM steps WHERE run_id IN (SELECT id FROM runs WHERE function_id = $1) AND status = ",
    );
    steps.params.push(Param::Text(FUNCTION.into()));
    let done = status::step_param(&mut steps, StepStatus::Completed);
    steps.push_sql(&done);
    let delete = |sql: &str, key: &str| {
        let mut s = Stmt::new(sql);
        s.params.push(Param::Text(key.into()));
        s
    };
    let deletes = [
        delete(
            "DELETE FROM steps WHERE run_id IN (SELECT id FROM runs WHERE function_id = $1)",
            FUNCTION,
        ),
        delete("DELETE FROM runs WHERE function_id = $1", FUNCTION),
        delete("DELETE FROM events WHERE name = $1", EVENT),
    ];
    let counts = crate::with_conn!(db, write, |c| {
        crate::write_tx!(c, Error, async |tx| {
            let runs = tx.rows::<Count>(&runs).await?.first().map_or(0, |c| c.n);
            let steps = tx.rows::<Count>(&steps).await?.first().map_or(0, |c| c.n);
            for s in &deletes {
                tx.exec(s).await?;
            }
            Ok((runs, steps))
        })
        .await
        .context("checking and deleting the floor's rows")?
    });
    Ok(counts)
}
