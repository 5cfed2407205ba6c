//! Replays: the stored events of a time range, sent again to one function. Each event its triggers match now
//! (name and `if` condition, evaluated as at intake) gets a new run of that function, queued and due at once,
//! with the function's concurrency, throttle and priority keys and `cancel_on` listeners. Idempotency, rate
//! limits, debounce and batching do not apply: a replay repeats events on purpose, one run each. Duplicate
//! deliveries (which started nothing) are not replayed. Events are read in pages and their runs written in
//! bounded transactions; a range holding more than [`MAX_EVENTS`] events is refused up front.

use super::audit::{self, Audit};
use super::{ActionError, Refusal};
use crate::store::db::Db;
use crate::store::runs::admission::{self, CancelWait};
use crate::store::runs::{EVENT_COLUMNS, EventTuple, event_json};
use crate::store::schema::events;
use crate::store::sql::{Param, Stmt, Tx as _};
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use ingot_actors::Registry;
use ingot_actors::function::Trigger;
use serde_json::json;

/// Most events one replay may cover.
pub const MAX_EVENTS: i64 = 10_000;
/// Events per page (and runs per transaction).
const PAGE: i64 = 500;

#[derive(Debug, Clone)]
pub struct ReplayRequest {
    pub function_id: String,
    /// `received_at` bounds in ms, inclusive.
    pub from_ms: i64,
    pub to_ms: i64,
    /// Only events of this name (one of the function's triggers).
    pub event_name: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Replayed {
    /// Events in the range with one of the trigger names.
    pub events: usize,
    pub run_ids: Vec<String>,
    /// Events whose trigger condition does not match.
    pub not_matched: usize,
}

impl Replayed {
    fn json(&self) -> serde_json::Value {
        json!({"events": self.events, "runs_created": self.run_ids.len(), "not_matched": self.not_matched})
    }
}

pub async fn replay(
    db: &Db,
    registry: &Registry,
    req: &ReplayRequest,
    audit: &Audit,
    now_ms: i64,
) -> Result<Replayed, ActionError> {
    let fid = req.function_id.as_str();
    let function = registry
        .get(fid)
        .ok_or_else(|| Refusal::NotFound(format!("no function {fid:?}")))?;
    let mut names: Vec<String> = function
        .def
        .triggers
        .iter()
        .filter_map(|t| match t {
            Trigger::Event { event, .. } => Some(event.clone()),
            Trigger::Cron { .. } => None,
        })
        .collect();
    names.sort();
    names.dedup();
    if let Some(only) = &req.event_name {
        if !names.contains(only) {
            return Err(Refusal::BadRequest(format!(
                "function {fid:?} is not triggered by {only:?} (its events: {})",
                names.join(", ")
            ))
            .into());
        }
        names = vec![only.clone()];
    }
    if names.is_empty() {
        return Err(Refusal::BadRequest(format!("function {fid:?} has no event trigger to replay")).into());
    }
    let (from, to) = (req.from_ms, req.to_ms);
    let total: i64 = crate::with_conn!(db, read, |c| {
        events::table
            .filter(events::name.eq_any(&names))
            .filter(events::received_at.between(from, to))
            .filter(events::duplicate.eq(false))
            .select(count_star())
            .first(c)
            .await?
    });
    if total > MAX_EVENTS {
        return Err(Refusal::BadRequest(format!(
            "the range holds {total} events; a replay covers at most {MAX_EVENTS}: narrow it"
        ))
        .into());
    }
    let mut out = Replayed::default();
    let mut after: (i64, String) = (from - 1, String::new());
    let mut first = true;
    loop {
        let (a_at, a_id) = after.clone();
        let page: Vec<(EventTuple, i64)> = crate::with_conn!(db, read, |c| {
            events::table
                .filter(events::name.eq_any(&names))
                .filter(events::received_at.between(from, to))
                .filter(events::duplicate.eq(false))
                .filter(
                    events::received_at
                        .gt(a_at)
                        .or(events::received_at.eq(a_at).and(events::id.gt(a_id))),
                )
                .order((events::received_at, events::id))
                .limit(PAGE)
                .select((EVENT_COLUMNS, events::received_at))
                .load(c)
                .await?
        });
        let Some(last) = page.last() else {
            if first {
                record(db, audit, &out, &[], now_ms).await?;
            }
            return Ok(out);
        };
        after = (last.1, last.0.0.clone());
        let mut rows = Vec::new();
        let mut waits = Vec::new();
        for (event, _) in &page {
            out.events += 1;
            let view = event_json(event)?;
            let Some(m) = registry
                .matching(&event.2, &view, now_ms)
                .into_iter()
                .find(|m| m.function_id == fid)
            else {
                out.not_matched += 1;
                continue;
            };
            let run_id = uuid::Uuid::now_v7().to_string();
            for (index, (event_name, expr, lifetime)) in m.admission.cancel_on.into_iter().enumerate() {
                waits.push(CancelWait {
                    run_id: run_id.clone(),
                    index,
                    event_name,
                    expr,
                    trigger_event: view.to_string(),
                    expires_at: now_ms + lifetime,
                });
            }
            rows.push(vec![
                Param::Text(run_id),
                Param::Text(fid.into()),
                Param::Text(event.0.clone()),
                crate::store::runs::status::initial(),
                Param::BigInt(now_ms),
                Param::BigInt(now_ms),
                Param::BigInt(now_ms),
                Param::NullText(m.admission.concurrency_key),
                Param::NullText(m.admission.throttle_key),
                Param::BigInt(m.admission.priority_ms),
            ]);
        }
        let new_ids: Vec<String> = rows
            .iter()
            .filter_map(|r| match &r[0] {
                Param::Text(id) => Some(id.clone()),
                _ => None,
            })
            .collect();
        out.run_ids.extend(new_ids.iter().cloned());
        let result = out.clone();
        crate::with_conn!(db, write, |c| {
            crate::write_tx!(c, ActionError, async |tx| {
                if !rows.is_empty() {
                    let mut ins = Stmt::new(
                        "INSERT INTO runs (id, function_id, event_id, status, run_at, created_at, updated_at, \
                         concurrency_key, throttle_key, priority) VALUES ",
                    );
                    ins.push_values(rows);
                    tx.exec(&ins).await?;
                }
                admission::insert_cancel_waits(tx, waits, now_ms).await?;
                audit::record_in(tx, audit, &result.json(), &new_ids, now_ms).await?;
                Ok(())
            })
            .await
        })?;
        first = false;
        if (page.len() as i64) < PAGE {
            return Ok(out);
        }
    }
}

async fn record(db: &Db, audit: &Audit, out: &Replayed, runs: &[String], now_ms: i64) -> Result<(), ActionError> {
    crate::with_conn!(db, write, |c| {
        crate::write_tx!(c, ActionError, async |tx| {
            audit::record_in(tx, audit, &out.json(), runs, now_ms).await?;
            Ok(())
        })
        .await
    })
}
