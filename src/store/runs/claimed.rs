//! What a claim hands to the run actors with each run, loaded for the whole batch at once: the trigger event,
//! a batched run's events, and the persisted step attempts of a run that ran before (a sleeper waking, a retry),
//! so a run actor starts without a query of its own.

use super::claim::ClaimedRow;
use super::{DbRunStore, EVENT_COLUMNS, EventTuple, STEP_COLUMNS, StepTuple, event_json, step_record};
use crate::store::error::Result;
use crate::store::schema::{events, steps};
use crate::store::sql::{Param, Stmt};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::RunQueryDsl;
use ingot_actors::store::{ClaimRequest, ClaimedRun, Lease, StepRecord};
use std::collections::HashMap;

/// A run's data as read, or why it could not be.
type Readable<T> = std::result::Result<T, String>;

/// Adds `item` to `run`'s list in `out`; the first item that could not be read makes the whole list its reason.
fn push_readable<T>(out: &mut HashMap<String, Readable<Vec<T>>>, run: String, item: Readable<T>) {
    let entry = out.entry(run).or_insert_with(|| Ok(Vec::new()));
    if let Ok(items) = entry {
        match item {
            Ok(item) => items.push(item),
            Err(why) => *entry = Err(why),
        }
    }
}

/// An [`EventTuple`] read by a hand-written statement.
#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Nullable<Text>)]
    external_id: Option<String>,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    data: String,
    #[diesel(sql_type = Text)]
    user_data: String,
    #[diesel(sql_type = BigInt)]
    ts: i64,
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

impl DbRunStore {
    /// The claimed `rows` made ready to run. `events`: their trigger events when the claim brought them back
    /// (PostgreSQL's plain claim); `None` loads them here.
    pub(super) async fn claimed_runs(
        &self,
        req: &ClaimRequest,
        rows: Vec<ClaimedRow>,
        events: Option<Vec<EventTuple>>,
    ) -> Result<Vec<ClaimedRun>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let loaded = match events {
            Some(events) => events,
            None => self.trigger_events(&rows).await?,
        };
        // What cannot be read is kept per run, as the reason: that run fails alone ([`ClaimedRun::unreadable`]).
        let by_id: HashMap<&str, Readable<serde_json::Value>> = loaded
            .iter()
            .map(|row| (row.0.as_str(), event_json(row).map_err(|e| e.to_string())))
            .collect();
        let mut batches = self.batch_events(&rows).await?;
        let mut steps = self.steps_of(&rows).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let event = by_id
                    .get(r.event_id.as_str())
                    .cloned()
                    .unwrap_or_else(|| Err(format!("its trigger event {} is missing", r.event_id)));
                let batch = batches.remove(&r.id).unwrap_or(Ok(Vec::new()));
                let steps = steps.remove(&r.id).transpose();
                let (event, batch, steps, unreadable) = match (event, batch, steps) {
                    (Ok(event), Ok(batch), Ok(steps)) => (event, batch, steps, None),
                    (Err(why), _, _) | (_, Err(why), _) | (_, _, Err(why)) => {
                        tracing::error!(run_id = %r.id, "a claimed run's data cannot be read, so it fails: {why}");
                        (serde_json::Value::Null, Vec::new(), Some(Vec::new()), Some(why))
                    }
                };
                ClaimedRun {
                    lease: Lease {
                        run_id: r.id,
                        token: r.lease_token,
                    },
                    function_id: req.function_id.clone(),
                    event,
                    attempt: r.attempt as u32,
                    // Tokens start at 0 and every claim adds one: 1 is the first claim. A rerun from a step starts
                    // at 1 (`actions/rerun.rs`), so its first claim loads the steps it was created with.
                    first_claim: r.lease_token == 1,
                    steps,
                    batch,
                    parent_run_id: r.parent_run_id,
                    created_at_ms: r.created_at,
                    started_at_ms: r.started_at.unwrap_or(req.now_ms),
                    unreadable,
                }
            })
            .collect())
    }

    /// The trigger events of `rows`.
    async fn trigger_events(&self, rows: &[ClaimedRow]) -> Result<Vec<EventTuple>> {
        // Hand-written, so never a prepared statement: planned for these ids each time. The query builder's
        // statement is kept prepared, and PostgreSQL's generic plan for it — made while a new database's `events`
        // was small — is a sequential scan it keeps as the table grows (3.7 ms per claim after 10,000 events,
        // `ingot bench` user-created-steady).
        let mut q = Stmt::new("SELECT id, external_id, name, data, user_data, ts, v FROM events WHERE id IN (");
        q.push_list(rows.iter().map(|r| Param::Text(r.event_id.clone())));
        q.push_sql(")");
        let loaded: Vec<EventRow> = crate::with_conn!(&self.db, read, |c| q.query().load(c).await?);
        Ok(loaded
            .into_iter()
            .map(|e| (e.id, e.external_id, e.name, e.data, e.user_data, e.ts, e.v))
            .collect())
    }

    /// The persisted attempts of the runs among `rows` that were claimed before (none on a first claim); for a run
    /// with an attempt that cannot be read, why.
    async fn steps_of(&self, rows: &[ClaimedRow]) -> Result<HashMap<String, Readable<Vec<StepRecord>>>> {
        let ids: Vec<&str> = rows
            .iter()
            .filter(|r| r.lease_token > 1)
            .map(|r| r.id.as_str())
            .collect();
        let mut out: HashMap<String, Readable<Vec<StepRecord>>> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        for id in &ids {
            out.insert(id.to_string(), Ok(Vec::new()));
        }
        let loaded: Vec<(String, StepTuple)> = crate::with_conn!(&self.db, read, |c| {
            steps::table
                .filter(steps::run_id.eq_any(&ids))
                .select((steps::run_id, STEP_COLUMNS))
                .order((steps::run_id, steps::step_key, steps::attempt))
                .load(c)
                .await?
        });
        for (run_id, row) in loaded {
            push_readable(&mut out, run_id, step_record(row).map_err(|e| e.to_string()));
        }
        Ok(out)
    }
}

impl DbRunStore {
    /// The events of the batched runs among `rows`, in arrival order; for a run with an event that cannot be read,
    /// why.
    async fn batch_events(&self, rows: &[ClaimedRow]) -> Result<HashMap<String, Readable<Vec<serde_json::Value>>>> {
        use crate::store::schema::run_events;
        let ids: Vec<&str> = rows
            .iter()
            .filter(|r| r.batch_size > 0)
            .map(|r| r.id.as_str())
            .collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let loaded: Vec<(String, EventTuple)> = crate::with_conn!(&self.db, read, |c| {
            run_events::table
                .inner_join(events::table.on(events::id.eq(run_events::event_id)))
                .filter(run_events::run_id.eq_any(&ids))
                .order((run_events::run_id, run_events::position))
                .select((run_events::run_id, EVENT_COLUMNS))
                .load(c)
                .await?
        });
        let mut out: HashMap<String, Readable<Vec<serde_json::Value>>> = HashMap::new();
        for (run, ev) in &loaded {
            push_readable(&mut out, run.clone(), event_json(ev).map_err(|e| e.to_string()));
        }
        Ok(out)
    }
}
