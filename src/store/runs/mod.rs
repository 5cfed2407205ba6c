//! The engine's run store over Diesel — the only module that writes run state, and only through one door,
//! [`status`]: every status write names its lifecycle edge, and the door binds the guard and the target. Every
//! write to a claimed run is guarded by its lease (still running, and `lease_token = <ours>`), so a worker whose
//! run was rescued by another node can never overwrite the newer attempt. Step attempts and run transitions are
//! group-committed by [`writer`]; claims, heartbeats and releases are written here directly.

pub mod admission;
pub mod cancel;
pub mod claim;
pub mod claimed;
mod read_step;
pub mod status;
pub mod suspend;
pub mod waits;
pub mod writer;

use super::actions::pauses::NOT_PAUSED;
use super::db::Db;
use super::error::{Error, Result};
use super::schema::{events, nodes, runs, steps};
use super::sql::{Param, Stmt, Tx};
use super::{from_json_text, to_json_text};
use async_trait::async_trait;
use claim::{due_queued, due_rescue};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use ingot_actors::ErrorInfo;
use ingot_actors::run::state::{RunEvent, RunStatus, StepStatus};
use ingot_actors::store::{
    ClaimRequest, ClaimedRun, FinishedRun, Lease, NewEvent, ParentResolution, RunChange, RunStore, StepAttempt,
    StepRecord, StepWrite, StoreError, TxStepWrite, TxWork, WaitSpec,
};
use writer::{Write, Writer};

/// [`RunStore`] over a [`Db`]. Step attempts and run transitions go through the group-commit [`Writer`].
#[derive(Clone)]
pub struct DbRunStore {
    db: Db,
    writer: Writer,
}

impl DbRunStore {
    /// Starts the writer tasks on the current runtime.
    pub fn new(db: Db) -> Self {
        DbRunStore {
            writer: Writer::start(db.clone()),
            db,
        }
    }

    /// The group-commit writer's figures (batch sizes, commit latency) for `/metrics`.
    pub fn writer_stats(&self) -> std::sync::Arc<writer::WriterStats> {
        self.writer.stats()
    }
}

#[derive(QueryableByName)]
struct FunctionIdRow {
    #[diesel(sql_type = Text)]
    function_id: String,
}

/// An event row as the handler needs it: id, external id, name, data, user, ts, v.
pub(crate) type EventTuple = (String, Option<String>, String, String, String, i64, Option<String>);
/// The columns of an [`EventTuple`].
/// The columns of a step attempt as a run replays it (`StepTuple`, read by `step_record`).
pub(super) const STEP_COLUMNS: (
    steps::step_key,
    steps::attempt,
    steps::status,
    steps::output,
    steps::error,
    steps::kind,
    steps::wake_at,
    steps::started_at,
) = (
    steps::step_key,
    steps::attempt,
    steps::status,
    steps::output,
    steps::error,
    steps::kind,
    steps::wake_at,
    steps::started_at,
);

pub(crate) const EVENT_COLUMNS: (
    events::id,
    events::external_id,
    events::name,
    events::data,
    events::user_data,
    events::ts,
    events::v,
) = (
    events::id,
    events::external_id,
    events::name,
    events::data,
    events::user_data,
    events::ts,
    events::v,
);
/// A step attempt row: key, attempt, status, output, error, kind, wake_at, started_at.
pub(super) type StepTuple = (
    String,
    i32,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<i64>,
    i64,
);

pub(crate) fn event_json(row: &EventTuple) -> Result<serde_json::Value> {
    let (id, external_id, name, data, user, ts, v) = row;
    let shown_id = external_id.as_deref().unwrap_or(id);
    let (data, user) = (from_json_text(data)?, from_json_text(user)?);
    Ok(ingot_actors::event::view(
        shown_id,
        name,
        &data,
        &user,
        *ts,
        v.as_deref(),
    ))
}

/// A finished (or waiting) step attempt as the writer's guarded insert: only while the run is ours.
pub(super) fn step_write(lease: &Lease, a: &StepAttempt) -> Write {
    Write::Step {
        run_id: lease.run_id.clone(),
        token: lease.token,
        key: a.key.clone(),
        attempt: a.attempt as i32,
        position: a.position as i32,
        name: a.name.clone(),
        status: a.status,
        output: a.output.as_ref().map(to_json_text),
        error: a.error.as_ref().map(|e| serde_json::to_string(e).unwrap_or_default()),
        started_at: a.started_at_ms,
        finished_at: a.finished_at_ms,
        retry_at: a.retry_at_ms,
        kind: a.kind.to_string(),
        wake_at: a.wake_at_ms,
    }
}

/// A run's transition as the writer's guarded write (with the step attempts deferred to it, first): the engine's
/// decision, checked against the lifecycle by the door, so the writer carries the edge, not status text.
pub(super) fn run_write(lease: &Lease, ch: &RunChange) -> Result<Write> {
    let edge = status::row_for(ch.from, ch.event, ch.to)?;
    let (run_id, token) = (lease.run_id.clone(), lease.token);
    let error = ch.error.as_ref().map(|e| serde_json::to_string(e).unwrap_or_default());
    let write = if ch.to.is_final() {
        Write::Finish {
            run_id,
            token,
            edge,
            attempt: ch.attempt as i32,
            output: ch.output.as_ref().map(to_json_text),
            error,
            at: ch.at_ms,
            notify: ch.notify,
        }
    } else {
        Write::Requeue {
            run_id,
            token,
            edge,
            attempt: ch.attempt as i32,
            run_at: ch.run_at_ms.unwrap_or(ch.at_ms),
            error,
            at: ch.at_ms,
            resolved_since: ch.resolved_since_ms,
        }
    };
    Ok(after_deferred(lease, &ch.steps, write))
}

/// `write` after the deferred step attempts `earlier` (a sleep's end, pure steps), in one transaction
/// (`Write::Many`, whose answer is `write`'s); `write` alone when there are none.
fn after_deferred(lease: &Lease, earlier: &[StepAttempt], write: Write) -> Write {
    if earlier.is_empty() {
        return write;
    }
    let mut parts: Vec<Write> = earlier.iter().map(|a| step_write(lease, a)).collect();
    parts.push(write);
    Write::Many(parts)
}

pub(crate) fn parse_error(text: Option<String>) -> Option<ErrorInfo> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

pub(super) fn step_record(row: StepTuple) -> Result<StepRecord> {
    let (key, attempt, status, output, error, kind, wake_at_ms, started_at_ms) = row;
    Ok(StepRecord {
        key,
        attempt: attempt as u32,
        status: StepStatus::parse(&status).ok_or_else(|| Error::Data(format!("unknown step status {status:?}")))?,
        output: output.as_deref().map(from_json_text).transpose()?,
        error: parse_error(error),
        kind,
        wake_at_ms,
        started_at_ms,
    })
}

impl DbRunStore {
    async fn load_steps_inner(&self, run_id: &str) -> Result<Vec<StepRecord>> {
        let rows: Vec<StepTuple> = crate::with_conn!(&self.db, read, |c| {
            steps::table
                .filter(steps::run_id.eq(run_id))
                .select(STEP_COLUMNS)
                .order((steps::step_key, steps::attempt))
                .load(c)
                .await?
        });
        rows.into_iter().map(step_record).collect()
    }

    /// Records `a`, after the deferred attempts `earlier` in the same transaction ([`after_deferred`]).
    async fn record_step_inner(
        &self,
        lease: &Lease,
        earlier: &[StepAttempt],
        a: &StepAttempt,
    ) -> Result<Result<StepWrite, StoreError>> {
        if self
            .writer
            .write(after_deferred(lease, earlier, step_write(lease, a)))
            .await?
            == 1
        {
            return Ok(Ok(StepWrite::Written));
        }
        self.settle_missed(lease, &a.key).await
    }

    /// After a guarded step insert changed nothing: either the step already has a final attempt (return it), or
    /// the run is no longer ours, or this very attempt was recorded before.
    async fn settle_missed(&self, lease: &Lease, key: &str) -> Result<Result<StepWrite, StoreError>> {
        let stored = self.load_steps_inner(&lease.run_id).await?;
        let final_status = |st: StepStatus| matches!(st, StepStatus::Completed | StepStatus::Failed);
        if let Some(rec) = stored.into_iter().find(|r| r.key == key && final_status(r.status)) {
            return Ok(Ok(StepWrite::AlreadyFinal(rec)));
        }
        let ours: i64 = crate::with_conn!(&self.db, read, |c| {
            runs::table
                .filter(runs::id.eq(&lease.run_id))
                .filter(runs::status.eq(RunStatus::Running.as_str()))
                .filter(runs::lease_token.eq(lease.token))
                .count()
                .get_result(c)
                .await?
        });
        // Still ours: this very attempt was recorded before (nothing to do). Otherwise the run moved on.
        Ok(if ours == 1 {
            Ok(StepWrite::Written)
        } else {
            Err(StoreError::LeaseLost)
        })
    }

    /// A transactional step through the writer (`writer/tx.rs`): the work and the completed attempt in one
    /// transaction, inside the step's own savepoint; the attempts deferred before it (`earlier`) in the same
    /// transaction, with the batch's plain statements.
    async fn record_tx_step_inner(
        &self,
        lease: &Lease,
        earlier: &[StepAttempt],
        a: &StepAttempt,
        work: TxWork,
        max_output_bytes: usize,
    ) -> Result<Result<TxStepWrite, StoreError>> {
        let Ok(work) = work.0.downcast::<crate::store::tx_step::TxFn>() else {
            return Err(Error::Data(format!(
                "step {:?}: its transactional work was not built by crate::store::tx_step",
                a.key
            )));
        };
        let write = writer::TxWrite {
            step: Box::new(step_write(lease, a)),
            earlier: earlier.iter().map(|e| step_write(lease, e)).collect(),
            work: *work,
            max_output_bytes,
        };
        Ok(match self.writer.write_tx(write).await? {
            writer::TxDone::Written(value) => Ok(TxStepWrite::Written(value)),
            writer::TxDone::Failed(e) => Ok(TxStepWrite::Failed(e)),
            writer::TxDone::Missed => match self.settle_missed(lease, &a.key).await? {
                Ok(StepWrite::AlreadyFinal(rec)) => Ok(TxStepWrite::AlreadyFinal(rec)),
                // Still ours and not final, yet the insert matched nothing: the attempt's row exists (an earlier
                // write of the same attempt number). Its work was rolled back; the run is retried from the store.
                Ok(StepWrite::Written) => Err(StoreError::Database(format!(
                    "step {:?}: attempt {} was recorded before",
                    a.key, a.attempt
                ))),
                Err(e) => Err(e),
            },
        })
    }

    async fn change_run_inner(&self, lease: &Lease, ch: &RunChange) -> Result<usize> {
        self.writer.write(run_write(lease, ch)?).await
    }

    async fn due_functions_inner(&self, now_ms: i64, stale_before_ms: i64) -> Result<Vec<String>> {
        let mut s = Stmt::new("");
        s.params = vec![Param::BigInt(now_ms), Param::BigInt(stale_before_ms)];
        let (due, rescue) = (due_queued(&mut s, "$1")?, due_rescue(&mut s, "$2")?);
        s.sql = format!(
            "SELECT DISTINCT function_id FROM runs WHERE {due} AND {NOT_PAUSED} UNION SELECT DISTINCT function_id \
             FROM runs WHERE {rescue} AND {NOT_PAUSED}"
        );
        let rows: Vec<FunctionIdRow> = crate::with_conn!(&self.db, read, |c| c.rows::<FunctionIdRow>(&s).await?);
        Ok(rows.into_iter().map(|r| r.function_id).collect())
    }

    async fn heartbeat_inner(&self, node_id: &str, now_ms: i64) -> Result<()> {
        crate::with_conn!(&self.db, write, |c| {
            diesel::insert_into(nodes::table)
                .values((
                    nodes::id.eq(node_id),
                    nodes::started_at.eq(now_ms),
                    nodes::heartbeat_at.eq(now_ms),
                ))
                .on_conflict(nodes::id)
                .do_update()
                .set(nodes::heartbeat_at.eq(now_ms))
                .execute(c)
                .await?
        });
        Ok(())
    }

    async fn release_node_inner(&self, node_id: &str, now_ms: i64) -> Result<u64> {
        let s = release_stmt(node_id, now_ms)?;
        let n = crate::with_conn!(&self.db, write, |c| c.exec(&s).await?);
        Ok(n as u64)
    }
}

/// The `Released` edge for the runs of one function this node holds since a claim whose answer was lost (the
/// database went away between committing the claim and replying), except `keep`, the runs this node executes:
/// due at once, so the pool claims them again.
pub(super) fn release_in_doubt_stmt(
    function_id: &str,
    node_id: &str,
    since_ms: i64,
    keep: &[String],
    now_ms: i64,
) -> Result<Stmt> {
    let mut s = released(
        vec![
            Param::Text(node_id.into()),
            Param::BigInt(now_ms),
            Param::Text(function_id.into()),
            Param::BigInt(since_ms),
        ],
        " AND function_id = $3 AND updated_at >= $4",
    )?;
    if !keep.is_empty() {
        let marks: Vec<String> = keep.iter().map(|id| s.bind(Param::Text(id.clone()))).collect();
        s.sql.push_str(&format!(" AND id NOT IN ({})", marks.join(", ")));
    }
    Ok(s)
}

impl DbRunStore {
    async fn release_in_doubt_inner(
        &self,
        function_id: &str,
        node_id: &str,
        since_ms: i64,
        keep: &[String],
        now_ms: i64,
    ) -> Result<u64> {
        let s = release_in_doubt_stmt(function_id, node_id, since_ms, keep, now_ms)?;
        let n = crate::with_conn!(&self.db, write, |c| c.exec(&s).await?);
        Ok(n as u64)
    }
}

/// The `Released` edge (running → queued) for every run `node_id` holds, due at once.
pub(super) fn release_stmt(node_id: &str, now_ms: i64) -> Result<Stmt> {
    released(vec![Param::Text(node_id.into()), Param::BigInt(now_ms)], "")
}

/// The `Released` edge for the runs leased to `$1`, due at `$2`, narrowed by `filter` (over further `params`).
fn released(params: Vec<Param>, filter: &str) -> Result<Stmt> {
    let mut s = Stmt::new("");
    s.params = params;
    let set = status::set(&mut s, &[RunEvent::Released])?;
    let from = status::sources(&mut s, RunEvent::Released)?;
    s.sql = format!(
        "UPDATE runs SET {set}, lease_owner = NULL, run_at = $2, updated_at = $2 WHERE status {from} \
         AND lease_owner = $1{filter}"
    );
    Ok(s)
}

#[async_trait]
impl RunStore for DbRunStore {
    async fn claim(&self, req: ClaimRequest) -> Result<Vec<ClaimedRun>, StoreError> {
        Ok(self.claim_inner(req).await?)
    }

    async fn load_steps(&self, run_id: &str) -> Result<Vec<StepRecord>, StoreError> {
        Ok(self.load_steps_inner(run_id).await?)
    }

    async fn record_step(&self, lease: &Lease, attempt: &StepAttempt) -> Result<StepWrite, StoreError> {
        self.record_step_inner(lease, &[], attempt).await?
    }

    async fn record_step_after(
        &self,
        lease: &Lease,
        earlier: &[StepAttempt],
        attempt: &StepAttempt,
    ) -> Result<StepWrite, StoreError> {
        self.record_step_inner(lease, earlier, attempt).await?
    }

    async fn record_tx_step(
        &self,
        lease: &Lease,
        earlier: &[StepAttempt],
        attempt: &StepAttempt,
        work: TxWork,
        max_output_bytes: usize,
    ) -> Result<TxStepWrite, StoreError> {
        self.record_tx_step_inner(lease, earlier, attempt, work, max_output_bytes)
            .await?
    }

    async fn run_read(
        &self,
        work: TxWork,
    ) -> Result<std::result::Result<serde_json::Value, ingot_actors::StepError>, StoreError> {
        Ok(read_step::run(&self.db, work).await?)
    }

    async fn change_run(&self, lease: &Lease, change: &RunChange) -> Result<(), StoreError> {
        match self.change_run_inner(lease, change).await? {
            0 => Err(StoreError::LeaseLost),
            _ => Ok(()),
        }
    }

    async fn next_wake(&self, function_id: &str, after_ms: i64, ahead_ms: i64) -> Result<Option<i64>, StoreError> {
        Ok(self.next_wake_inner(function_id, after_ms, ahead_ms).await?)
    }

    async fn due_functions(&self, now_ms: i64, stale_before_ms: i64) -> Result<Vec<String>, StoreError> {
        Ok(self.due_functions_inner(now_ms, stale_before_ms).await?)
    }

    async fn heartbeat(&self, node_id: &str, now_ms: i64) -> Result<(), StoreError> {
        Ok(self.heartbeat_inner(node_id, now_ms).await?)
    }

    async fn release_node(&self, node_id: &str, now_ms: i64) -> Result<u64, StoreError> {
        Ok(self.release_node_inner(node_id, now_ms).await?)
    }

    async fn release_in_doubt(
        &self,
        function_id: &str,
        node_id: &str,
        since_ms: i64,
        keep: &[String],
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        Ok(self
            .release_in_doubt_inner(function_id, node_id, since_ms, keep, now_ms)
            .await?)
    }

    async fn begin_wait(
        &self,
        lease: &Lease,
        step: &StepAttempt,
        waits: &[WaitSpec],
        child: Option<&NewEvent>,
    ) -> Result<StepWrite, StoreError> {
        self.begin_wait_inner(lease, step, waits, child).await?
    }

    async fn recent_events(&self, name: &str, from_ms: i64, to_ms: i64) -> Result<Vec<serde_json::Value>, StoreError> {
        Ok(self.recent_events_inner(name, from_ms, to_ms).await?)
    }

    async fn send_events(&self, events: &[NewEvent], now_ms: i64) -> Result<Vec<String>, StoreError> {
        Ok(self.send_events_inner(events, now_ms).await?)
    }

    async fn resume_if_resolved(&self, run_id: &str, since_ms: i64, now_ms: i64) -> Result<bool, StoreError> {
        Ok(self.resume_if_resolved_inner(run_id, since_ms, now_ms).await?)
    }

    async fn run_outcome(&self, run_id: &str) -> Result<Option<FinishedRun>, StoreError> {
        Ok(self.run_outcome_inner(run_id).await?)
    }

    async fn cancel_run(&self, run_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        Ok(self.cancel_run_inner(run_id, now_ms).await?)
    }

    async fn fire_cron(
        &self,
        function_id: &str,
        schedule: &str,
        tick_ms: i64,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        Ok(self.fire_cron_inner(function_id, schedule, tick_ms, event).await?)
    }

    async fn last_cron_tick(&self, function_id: &str, schedule: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.last_cron_tick_inner(function_id, schedule).await?)
    }

    async fn pending_notifications(&self, limit: usize) -> Result<Vec<FinishedRun>, StoreError> {
        Ok(self.pending_notifications_inner(limit).await?)
    }

    async fn complete_notification(
        &self,
        run_id: &str,
        events: &[NewEvent],
        parent: Option<&ParentResolution>,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self.complete_notification_inner(run_id, events, parent, now_ms).await?)
    }
}
