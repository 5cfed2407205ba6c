//! The run store's writes for suspended steps, emitted events, cancellation and the notification outbox.
//! Same rules as the rest of [`super`]: every write to a claimed run is guarded by its lease, and everything a
//! change implies (a wait and its index, a child run, a parent's resumption) commits in one transaction.

use super::status;
use super::waits::{cancel_in, resolve_step};
use super::{DbRunStore, EVENT_COLUMNS, EventTuple, event_json, parse_error};
use crate::store::error::{Error, Result};
use crate::store::events::ingest_in;
use crate::store::schema::{events, runs};
use crate::store::sql::{Param, Stmt, Tx};
use crate::store::{from_json_text, to_json_text};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use ingot_actors::run::state::{RunEvent, RunStatus};
use ingot_actors::store::{
    FinishedRun, Lease, NewEvent, ParentResolution, StepAttempt, StepWrite, StoreError, WaitSpec,
};

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    #[allow(dead_code)]
    id: String,
}

/// Cancels a run that has not finished (the API's cancel). False if it is unknown or already finished.
pub async fn cancel_run(db: &crate::store::Db, run_id: &str, now: i64) -> Result<bool> {
    let cancelled = crate::with_conn!(db, write, |c| {
        crate::write_tx!(c, Error, async |tx| cancel_in(
            tx,
            run_id,
            "cancelled through the API",
            now
        )
        .await)
        .await?
    });
    Ok(cancelled.is_some())
}

#[derive(QueryableByName)]
struct NextWakeRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    at: Option<i64>,
}

/// One `MIN` per status, so each is a single probe of the `(function_id, status, run_at, id)` index rather than a scan
/// of every sleeper. Sleepers count `$3` ms early: the claim takes them that much ahead of their wake-up. `$1`
/// function, `$2` after; the statuses bound after them.
fn next_wake_stmt(function_id: &str, after_ms: i64, ahead_ms: i64) -> Stmt {
    let mut s = Stmt::new("");
    s.params = vec![
        Param::Text(function_id.into()),
        Param::BigInt(after_ms),
        Param::BigInt(ahead_ms),
    ];
    let mut one = |st: RunStatus, early: bool| {
        let (minus, plus) = if early { (" - $3", " + $3") } else { ("", "") };
        let status = status::param(&mut s, st);
        format!(
            "SELECT MIN(run_at){minus} AS at FROM runs WHERE function_id = $1 AND status = {status} AND run_at > $2{plus}"
        )
    };
    let groups = [
        one(RunStatus::Queued, false),
        one(RunStatus::Sleeping, true),
        one(RunStatus::Waiting, false),
    ];
    s.sql = format!(
        "SELECT MIN(at) AS at FROM ({}) AS next_wakes",
        groups.join(" UNION ALL ")
    );
    s
}

/// The `Resumed` edge (waiting → queued, due now) for a run one of whose waits or invokes resolved since `since`
/// (`runs.resolved_at`, written by [`super::waits::resolve_step`]).
pub(super) fn resume_if_resolved_stmt(run_id: &str, since: i64, now: i64) -> Result<Stmt> {
    let mut s = Stmt::new("");
    s.params = vec![Param::Text(run_id.into()), Param::BigInt(since), Param::BigInt(now)];
    let set = status::set(&mut s, &[RunEvent::Resumed])?;
    let from = status::sources(&mut s, RunEvent::Resumed)?;
    s.sql = format!(
        "UPDATE runs SET {set}, run_at = $3, updated_at = $3 WHERE id = $1 AND status {from} \
         AND resolved_at >= $2 RETURNING id"
    );
    Ok(s)
}

impl DbRunStore {
    pub(super) async fn next_wake_inner(&self, function_id: &str, after_ms: i64, ahead_ms: i64) -> Result<Option<i64>> {
        let s = next_wake_stmt(function_id, after_ms, ahead_ms);
        let rows: Vec<NextWakeRow> = crate::with_conn!(&self.db, read, |c| c.rows::<NextWakeRow>(&s).await?);
        Ok(rows.into_iter().next().and_then(|r| r.at))
    }

    pub(super) async fn begin_wait_inner(
        &self,
        lease: &Lease,
        step: &StepAttempt,
        waits: &[WaitSpec],
        child: Option<&NewEvent>,
    ) -> Result<Result<StepWrite, StoreError>> {
        let insert = super::writer::step_insert(super::step_write(lease, step))?;
        let now = step.started_at_ms;
        let (inserted, _woken) = crate::with_conn!(&self.db, write, |c| {
            crate::write_tx!(c, Error, async |tx| {
                if tx.rows::<super::writer::StepKey>(&insert).await?.is_empty() {
                    return Ok((false, Vec::new()));
                }
                if !waits.is_empty() {
                    // A wait_for_any alternative names its step (`step_key`); a single wait's key is its step's.
                    let mut s = Stmt::new(
                        "INSERT INTO waits (run_id, wait_key, kind, event_name, expr, trigger_event, expires_at, \
                         created_at, step_key, alternative) VALUES ",
                    );
                    s.push_values(waits.iter().map(|w| {
                        vec![
                            Param::Text(lease.run_id.clone()),
                            Param::Text(w.key.clone()),
                            Param::Text("event".into()),
                            Param::Text(w.event_name.clone()),
                            Param::NullText(w.expr.clone()),
                            Param::Text(w.trigger_event.to_string()),
                            Param::BigInt(w.expires_at_ms),
                            Param::BigInt(now),
                            Param::NullText(w.alternative.map(|_| step.key.clone())),
                            Param::NullBigInt(w.alternative.map(i64::from)),
                        ]
                    }));
                    s.push_sql(" ON CONFLICT DO NOTHING");
                    tx.exec(&s).await?;
                }
                let woken = match child {
                    Some(ev) => ingest_in(tx, std::slice::from_ref(ev), now).await?.woken,
                    None => Vec::new(),
                };
                Ok((true, woken))
            })
            .await?
        });
        if inserted {
            return Ok(Ok(StepWrite::Written));
        }
        self.settle_missed(lease, &step.key).await
    }

    pub(super) async fn recent_events_inner(&self, name: &str, from: i64, to: i64) -> Result<Vec<serde_json::Value>> {
        let rows: Vec<EventTuple> = crate::with_conn!(&self.db, read, |c| {
            events::table
                .filter(events::name.eq(name))
                .filter(events::received_at.between(from, to))
                .filter(events::duplicate.eq(false))
                .order((events::received_at, events::id))
                .limit(1000)
                .select(EVENT_COLUMNS)
                .load(c)
                .await?
        });
        rows.iter().map(event_json).collect()
    }

    pub(super) async fn send_events_inner(&self, out: &[NewEvent], now: i64) -> Result<Vec<String>> {
        let ingested = crate::with_conn!(&self.db, write, |c| {
            crate::write_tx!(c, Error, async |tx| ingest_in(tx, out, now).await).await?
        });
        Ok(ingested.woken)
    }

    pub(super) async fn resume_if_resolved_inner(&self, run_id: &str, since: i64, now: i64) -> Result<bool> {
        let s = resume_if_resolved_stmt(run_id, since, now)?;
        let rows = crate::with_conn!(&self.db, write, |c| c.rows::<IdRow>(&s).await?);
        Ok(!rows.is_empty())
    }

    pub(super) async fn run_outcome_inner(&self, run_id: &str) -> Result<Option<FinishedRun>> {
        type Row = (
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            EventTuple,
        );
        let row: Option<Row> = crate::with_conn!(&self.db, read, |c| {
            runs::table
                .inner_join(events::table)
                .filter(runs::id.eq(run_id))
                .select((
                    runs::function_id,
                    runs::status,
                    runs::output,
                    runs::error,
                    runs::parent_run_id,
                    runs::parent_step_key,
                    EVENT_COLUMNS,
                ))
                .first(c)
                .await
                .optional()?
        });
        let Some((function_id, status, output, error, parent_run_id, parent_step_key, ev)) = row else {
            return Ok(None);
        };
        Ok(Some(FinishedRun {
            run_id: run_id.to_string(),
            function_id,
            status: RunStatus::parse(&status).ok_or_else(|| Error::Data(format!("unknown run status {status:?}")))?,
            // A trigger event that cannot be read (its run failed for that: `ClaimedRun::unreadable`) does not keep
            // the run's end from being told: the notification carries `null` for it.
            event: event_json(&ev).unwrap_or_else(|e| {
                tracing::warn!(run_id, error = %e, "a finished run's trigger event cannot be read; told as null");
                serde_json::Value::Null
            }),
            output: output.as_deref().map(from_json_text).transpose()?,
            error: parse_error(error),
            parent_run_id,
            parent_step_key,
        }))
    }

    pub(super) async fn cancel_run_inner(&self, run_id: &str, now: i64) -> Result<bool> {
        cancel_run(&self.db, run_id, now).await
    }

    pub(super) async fn pending_notifications_inner(&self, limit: usize) -> Result<Vec<FinishedRun>> {
        let ids: Vec<String> = crate::with_conn!(&self.db, read, |c| {
            runs::table
                .filter(runs::notify_pending.eq(true))
                .order(runs::finished_at)
                .limit(limit as i64)
                .select(runs::id)
                .load(c)
                .await?
        });
        let mut out = Vec::new();
        for id in ids {
            if let Some(run) = self.run_outcome_inner(&id).await? {
                out.push(run);
            }
        }
        Ok(out)
    }

    pub(super) async fn complete_notification_inner(
        &self,
        run_id: &str,
        out: &[NewEvent],
        parent: Option<&ParentResolution>,
        now: i64,
    ) -> Result<Vec<String>> {
        let mut clear =
            Stmt::new("UPDATE runs SET notify_pending = FALSE WHERE id = $1 AND notify_pending RETURNING id");
        clear.params = vec![Param::Text(run_id.into())];
        crate::with_conn!(&self.db, write, |c| {
            crate::write_tx!(c, Error, async |tx| {
                if tx.rows::<IdRow>(&clear).await?.is_empty() {
                    return Ok(Vec::new()); // delivered already (another node's poll, or our own flush)
                }
                let mut woken = ingest_in(tx, out, now).await?.woken;
                if let Some(p) = parent {
                    let output = p.output.as_ref().map(to_json_text);
                    let error = p.error.as_ref().map(|e| serde_json::to_string(e).unwrap_or_default());
                    woken.extend(resolve_step(tx, &p.parent_run_id, &p.step_key, p.status, output, error, now).await?);
                }
                Ok(woken)
            })
            .await
        })
    }
}

impl DbRunStore {
    pub(super) async fn fire_cron_inner(
        &self,
        function_id: &str,
        schedule: &str,
        tick: i64,
        ev: &NewEvent,
    ) -> Result<bool> {
        let mut claim = Stmt::new(
            "INSERT INTO cron_ticks (function_id, schedule, tick_at, event_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING RETURNING function_id AS id",
        );
        claim.params = vec![
            Param::Text(function_id.into()),
            Param::Text(schedule.into()),
            Param::BigInt(tick),
            Param::Text(ev.id.clone()),
        ];
        let now = ingot_actors::time::now_ms();
        crate::with_conn!(&self.db, write, |c| {
            crate::write_tx!(c, Error, async |tx| {
                if tx.rows::<IdRow>(&claim).await?.is_empty() {
                    return Ok(false);
                }
                ingest_in(tx, std::slice::from_ref(ev), now).await?;
                Ok(true)
            })
            .await
        })
    }

    /// The latest tick of a schedule fired so far (the scheduler's catch-up after downtime).
    pub(super) async fn last_cron_tick_inner(&self, function_id: &str, schedule: &str) -> Result<Option<i64>> {
        use crate::store::schema::cron_ticks as ct;
        Ok(crate::with_conn!(&self.db, read, |c| {
            ct::table
                .filter(ct::function_id.eq(function_id))
                .filter(ct::schedule.eq(schedule))
                .select(diesel::dsl::max(ct::tick_at))
                .first::<Option<i64>>(c)
                .await?
        }))
    }
}
