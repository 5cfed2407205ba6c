//! Queries behind the read API and `/health`. Read-only; shapes are the API's JSON.

use super::db::Db;
use super::error::Result;
use super::from_json_text;
use super::runs::{EVENT_COLUMNS, EventTuple, event_json};
use super::schema::{events, run_skips, runs, steps};
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use ingot_actors::run::state::RunStatus;
use ingot_actors::time::rfc3339;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
pub struct EventView {
    pub id: String,
    /// The event as functions see it (`id` is the producer's id when it sent one).
    pub event: Value,
    pub received_at: String,
    /// The producer's id was seen within 24 h: stored, started no runs.
    pub duplicate: bool,
    pub run_ids: Vec<String>,
    pub skipped: Vec<SkipView>,
}

#[derive(Debug, Serialize)]
pub struct SkipView {
    pub function_id: String,
    pub reason: String,
    pub existing_run_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub id: String,
    pub function_id: String,
    pub event_id: String,
    pub status: String,
    pub attempt: i32,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// For a queued run: when it may start (a retry backoff puts this in the future).
    pub run_at: String,
}

#[derive(Debug, Serialize)]
pub struct RunView {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub idempotency_key: Option<String>,
    /// The run this one reruns (`POST /api/v1/runs/{id}/rerun`).
    pub rerun_of: Option<String>,
    pub output: Option<Value>,
    pub error: Option<Value>,
    pub steps: Vec<StepView>,
}

#[derive(Debug, Serialize)]
pub struct StepView {
    pub id: String,
    pub name: String,
    /// `run`, `sleep`, `wait_for_event`, `invoke` or `send_event`.
    pub kind: String,
    /// For a waiting step: when it resumes (the sleep's end, the timeout).
    pub wake_at: Option<String>,
    /// The status of the latest attempt.
    pub status: String,
    pub attempts: usize,
    pub output: Option<Value>,
    pub error: Option<Value>,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: i64,
    pub history: Vec<AttemptView>,
}

#[derive(Debug, Serialize)]
pub struct AttemptView {
    pub attempt: i32,
    pub status: String,
    pub error: Option<Value>,
    pub started_at: String,
    pub finished_at: String,
    pub retry_at: Option<String>,
}

type RunRow = (String, String, String, String, i32, i64, i64, Option<i64>, Option<i64>);
/// A run with its idempotency key, output and error.
type RunDetailRow = (RunRow, Option<String>, Option<String>, Option<String>, Option<String>);

fn summary(r: RunRow) -> RunSummary {
    let (id, function_id, event_id, status, attempt, run_at, created_at, started_at, finished_at) = r;
    RunSummary {
        id,
        function_id,
        event_id,
        status,
        attempt,
        created_at: rfc3339(created_at),
        started_at: started_at.map(rfc3339),
        finished_at: finished_at.map(rfc3339),
        run_at: rfc3339(run_at),
    }
}

macro_rules! run_columns {
    () => {
        (
            runs::id,
            runs::function_id,
            runs::event_id,
            runs::status,
            runs::attempt,
            runs::run_at,
            runs::created_at,
            runs::started_at,
            runs::finished_at,
        )
    };
}

/// Keys whose values are credentials (OAuth tokens as Auth.js stores them, passwords, API keys), compared without
/// case. The API shows `"[redacted]"` instead; what is stored, and what handlers receive, is unchanged.
const CREDENTIAL_KEYS: [&str; 9] = [
    "access_token",
    "refresh_token",
    "id_token",
    "oauth_token",
    "oauth_token_secret",
    "accesstoken",
    "refreshtoken",
    "password",
    "client_secret",
];

/// Replaces every credential value in `v`, at any depth.
pub fn redact(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if CREDENTIAL_KEYS.contains(&k.to_ascii_lowercase().as_str()) && !val.is_null() {
                    *val = serde_json::Value::String("[redacted]".into());
                } else {
                    redact(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn redacted(mut v: serde_json::Value) -> serde_json::Value {
    redact(&mut v);
    v
}

pub async fn get_event(db: &Db, id: &str) -> Result<Option<EventView>> {
    let row: Option<(EventTuple, i64, bool)> = crate::with_conn!(db, read, |c| {
        events::table
            .filter(events::id.eq(id))
            .select((EVENT_COLUMNS, events::received_at, events::duplicate))
            .first(c)
            .await
            .optional()?
    });
    let Some((event_row, received_at, duplicate)) = row else {
        return Ok(None);
    };
    let mut event = event_json(&event_row)?;
    redact(&mut event);
    let id = event_row.0;
    let run_ids: Vec<String> = crate::with_conn!(db, read, |c| {
        runs::table
            .filter(runs::event_id.eq(&id))
            .order(runs::id)
            .select(runs::id)
            .load(c)
            .await?
    });
    let skipped: Vec<(String, String, Option<String>)> = crate::with_conn!(db, read, |c| {
        run_skips::table
            .filter(run_skips::event_id.eq(&id))
            .select((run_skips::function_id, run_skips::reason, run_skips::existing_run_id))
            .load(c)
            .await?
    });
    Ok(Some(EventView {
        id,
        event,
        received_at: rfc3339(received_at),
        duplicate,
        run_ids,
        skipped: skipped
            .into_iter()
            .map(|(function_id, reason, existing_run_id)| SkipView {
                function_id,
                reason,
                existing_run_id,
            })
            .collect(),
    }))
}

#[derive(Debug, Default)]
pub struct RunFilter {
    pub function_id: Option<String>,
    pub status: Option<RunStatus>,
    pub limit: i64,
}

/// Newest first.
pub async fn list_runs(db: &Db, f: &RunFilter) -> Result<Vec<RunSummary>> {
    // A boxed query is typed by its backend, so the filter is applied in each arm of `with_conn!`.
    let rows: Vec<RunRow> = crate::with_conn!(db, read, |c| {
        let mut q = runs::table
            .select(run_columns!())
            .order((runs::created_at.desc(), runs::id.desc()))
            .limit(f.limit)
            .into_boxed();
        if let Some(fid) = &f.function_id {
            q = q.filter(runs::function_id.eq(fid.clone()));
        }
        if let Some(s) = f.status {
            q = q.filter(runs::status.eq(s.as_str()));
        }
        q.load(c).await?
    });
    Ok(rows.into_iter().map(summary).collect())
}

pub async fn get_run(db: &Db, id: &str) -> Result<Option<RunView>> {
    let row: Option<RunDetailRow> = crate::with_conn!(db, read, |c| {
        runs::table
            .filter(runs::id.eq(id))
            .select((
                run_columns!(),
                runs::idempotency_key,
                runs::output,
                runs::error,
                runs::rerun_of,
            ))
            .first(c)
            .await
            .optional()?
    });
    let Some((run, idempotency_key, output, error, rerun_of)) = row else {
        return Ok(None);
    };
    type StepRow = (
        String,
        i32,
        String,
        String,
        Option<String>,
        Option<String>,
        i64,
        i64,
        Option<i64>,
        String,
        Option<i64>,
    );
    let rows: Vec<StepRow> = crate::with_conn!(db, read, |c| {
        steps::table
            .filter(steps::run_id.eq(id))
            .select((
                steps::step_key,
                steps::attempt,
                steps::name,
                steps::status,
                steps::output,
                steps::error,
                steps::started_at,
                steps::finished_at,
                steps::retry_at,
                steps::kind,
                steps::wake_at,
            ))
            .order((steps::position, steps::attempt))
            .load(c)
            .await?
    });
    let mut order: Vec<String> = Vec::new();
    let mut grouped: BTreeMap<String, Vec<StepRow>> = BTreeMap::new();
    for r in rows {
        if !grouped.contains_key(&r.0) {
            order.push(r.0.clone());
        }
        grouped.entry(r.0.clone()).or_default().push(r);
    }
    let mut steps = Vec::with_capacity(order.len());
    for key in order {
        let attempts = grouped.remove(&key).unwrap_or_default();
        let (Some(first), Some(last)) = (<[_]>::first(&attempts), <[_]>::last(&attempts)) else {
            continue;
        };
        let parse = |t: &Option<String>| t.as_deref().map(|s| from_json_text(s).map(redacted)).transpose();
        steps.push(StepView {
            id: key.clone(),
            name: last.2.clone(),
            kind: last.9.clone(),
            wake_at: last.10.map(rfc3339),
            status: last.3.clone(),
            attempts: attempts.len(),
            output: parse(&last.4)?,
            error: parse(&last.5)?,
            started_at: rfc3339(first.6),
            finished_at: rfc3339(last.7),
            duration_ms: last.7 - first.6,
            history: attempts
                .iter()
                .map(|a| {
                    Ok(AttemptView {
                        attempt: a.1,
                        status: a.3.clone(),
                        error: parse(&a.5)?,
                        started_at: rfc3339(a.6),
                        finished_at: rfc3339(a.7),
                        retry_at: a.8.map(rfc3339),
                    })
                })
                .collect::<Result<_>>()?,
        });
    }
    Ok(Some(RunView {
        summary: summary(run),
        idempotency_key,
        rerun_of,
        output: output.as_deref().map(|s| from_json_text(s).map(redacted)).transpose()?,
        error: error.as_deref().map(from_json_text).transpose()?,
        steps,
    }))
}

/// Queued runs per function (for `/health`).
pub async fn queued_counts(db: &Db) -> Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = crate::with_conn!(db, read, |c| {
        runs::table
            .filter(runs::status.eq(RunStatus::Queued.as_str()))
            .group_by(runs::function_id)
            .select((runs::function_id, count_star()))
            .load(c)
            .await?
    });
    Ok(rows.into_iter().collect())
}

/// Runs not yet final (queued or running), for drain.
/// Runs with work to do now (queued, running — and with `suspended`, sleeping or waiting too), plus finished runs
/// whose notifications (system events, an invoking parent) are still to be delivered.
pub async fn unfinished_runs(db: &Db, suspended: bool) -> Result<i64> {
    let mut statuses = vec![RunStatus::Queued.as_str(), RunStatus::Running.as_str()];
    let parked = [RunStatus::Sleeping.as_str(), RunStatus::Waiting.as_str()];
    if suspended {
        statuses.extend(parked);
    }
    // A sleeper or waiter whose time has come is about to run: it counts as unfinished even without `all`.
    let now = ingot_actors::time::now_ms();
    // A paused function's runs are held, not work to wait for (`actions/pauses.rs`); their notifications still count.
    let paused = super::schema::function_pauses::table.select(super::schema::function_pauses::function_id);
    Ok(crate::with_conn!(db, read, |c| {
        runs::table
            .filter(
                runs::status
                    .eq_any(&statuses)
                    .or(runs::status.eq_any(&parked).and(runs::run_at.le(now)))
                    .and(diesel::dsl::not(runs::function_id.eq_any(paused)))
                    .or(runs::notify_pending.eq(true)),
            )
            .select(count_star())
            .first(c)
            .await?
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_are_redacted_at_any_depth() {
        let mut v = json!({"account": {"provider": "discord", "access_token": "t1", "Refresh_Token": "t2",
            "id_token": null}, "list": [{"password": "p"}], "accessToken": "t3", "token_type": "bearer"});
        redact(&mut v);
        assert_eq!(
            v,
            json!({"account": {"provider": "discord", "access_token": "[redacted]", "Refresh_Token": "[redacted]",
                "id_token": null}, "list": [{"password": "[redacted]"}], "accessToken": "[redacted]",
                "token_type": "bearer"})
        );
    }
}
