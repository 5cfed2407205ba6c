//! The read API: events, runs (with every step attempt and the actions that touched them), functions (paused or
//! not), and `drain` (wait until no run is unfinished).

use super::AppState;
use super::error::ApiError;
use crate::store::read::{self, RunFilter};
use crate::store::run_search;
use actix_web::{HttpResponse, web};
use ingot_actors::function::Trigger;
use ingot_actors::run::state::RunStatus;
use serde::Deserialize;
use serde_json::json;
use std::time::{Duration, Instant};

/// The longest one `drain` long-poll waits (10 minutes).
pub const MAX_DRAIN_MS: u64 = 600_000;

pub async fn get_event(id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    match read::get_event(&state.db, &id).await? {
        Some(e) => Ok(HttpResponse::Ok().json(e)),
        None => Err(ApiError::NotFound(format!("no event {id:?}"))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    function: Option<String>,
    status: Option<String>,
    /// The name of the event that started the run.
    event: Option<String>,
    /// Free text (ids, names, errors; never payloads).
    q: Option<String>,
    /// A CEL expression over `event` and `output` (`src/store/run_search.rs`).
    cel: Option<String>,
    /// The page after this cursor (a previous answer's `next`).
    before: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/v1/runs`: a page of runs, newest first, and the cursor of the next page (`next`, null at the end).
/// With `cel`, the runs the other filters select are evaluated page by page, at most `INGOT_RUNS_FILTER_SCAN` per
/// request; `scan` says how many were, and whether the page stopped at that cap (then `next` continues the scan).
pub async fn list_runs(q: web::Query<RunsQuery>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
            let all: Vec<_> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::BadRequest(format!("unknown status {s:?}; one of {}", all.join(", ")))
        })?),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    let before = match q.before.as_deref() {
        None => None,
        Some(c) => Some(read::Cursor::parse(c).ok_or_else(|| ApiError::BadRequest(format!("bad cursor {c:?}")))?),
    };
    // Refused before anything is read.
    let cel = match q.cel.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(source) => Some(run_search::compile(source).map_err(|e| ApiError::BadRequest(e.to_string()))?),
    };
    let filter = RunFilter {
        function_id: q.function.clone(),
        status,
        event_name: q.event.clone(),
        text: q.q.clone().filter(|t| !t.trim().is_empty()),
        before,
        limit,
        ..RunFilter::default()
    };
    if let Some(expr) = cel {
        let now = ingot_actors::time::now_ms();
        let page = run_search::page_matching(&state.db, &filter, &expr, state.config.runs_filter_scan, now).await?;
        return Ok(HttpResponse::Ok().json(json!({
            "runs": page.runs,
            "next": page.next.map(|c| c.to_string()),
            "scan": page.scan,
        })));
    }
    let (runs, next) = read::page_runs(&state.db, &filter).await?;
    Ok(HttpResponse::Ok().json(json!({ "runs": runs, "next": next.map(|c| c.to_string()) })))
}

pub async fn get_run(id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let Some(run) = read::get_run(&state.db, &id).await? else {
        return Err(ApiError::NotFound(format!("no run {id:?}")));
    };
    // The operator actions that touched it (`src/http/actions/`).
    let actions = crate::store::actions::audit::of_run(&state.db, &id).await?;
    let mut body = serde_json::to_value(run).map_err(ApiError::internal)?;
    body["actions"] = json!(actions);
    Ok(HttpResponse::Ok().json(body))
}

pub async fn functions(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let paused = crate::store::actions::pauses::paused(&state.db).await?;
    let list: Vec<_> = state
        .registry
        .functions()
        .map(|f| {
            let triggers: Vec<_> = f
                .def
                .triggers
                .iter()
                .map(|t| match t {
                    Trigger::Event { event, condition } => json!({"event": event, "if": condition}),
                    Trigger::Cron { schedule } => json!({"cron": schedule}),
                })
                .collect();
            json!({
                "id": f.def.id,
                "name": f.def.name,
                "triggers": triggers,
                "retries": f.def.retries,
                "idempotency": f.def.idempotency,
                "paused": paused.contains_key(&f.def.id),
                "paused_at": paused.get(&f.def.id).map(|p| &p.0),
                "paused_by": paused.get(&f.def.id).map(|p| &p.1),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "functions": list })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrainQuery {
    timeout_ms: Option<u64>,
    /// Also wait for sleeping and waiting runs to finish.
    all: Option<bool>,
}

/// Waits (up to `timeout_ms`, default 30 s, at most 10 min) until no run is queued or running (with `all=true`:
/// or sleeping or waiting) and no finished run has undelivered notifications. Woken by runs
/// settling in this daemon; re-checks every second for runs settled by other daemons. 200 when drained,
/// 503 with the count when the time ran out.
pub async fn drain(
    q: web::Query<DrainQuery>,
    state: web::Data<AppState>,
    gate: web::Data<super::guard::Gate>,
) -> Result<HttpResponse, ApiError> {
    let _slot = gate.into_inner().open_drain()?;
    let timeout = Duration::from_millis(q.timeout_ms.unwrap_or(30_000).min(MAX_DRAIN_MS));
    let deadline = Instant::now() + timeout;
    let rt = state.supervisor.runtime().clone();
    loop {
        let settled = rt.run_settled.notified();
        // Whether any run is unfinished (one row read, however long the backlog); the count only for the answer.
        let all = q.all.unwrap_or(false);
        if !read::any_unfinished_run(&state.db, all).await? {
            return Ok(HttpResponse::Ok().json(json!({"status": 200, "unfinished": 0})));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(match read::unfinished_runs(&state.db, all).await? {
                0 => HttpResponse::Ok().json(json!({"status": 200, "unfinished": 0})),
                n => HttpResponse::ServiceUnavailable().json(json!({"status": 503, "unfinished": n})),
            });
        }
        let _ = tokio::time::timeout((deadline - now).min(Duration::from_secs(1)), settled).await;
    }
}
