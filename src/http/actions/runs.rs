//! Actions on runs: cancel one, cancel many by filter, rerun (from a step).

use super::{TimeArg, actor_of, body, range};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::store::actions::audit::{ActionKind, Audit};
use crate::store::actions::rerun;
use crate::store::read;
use crate::store::runs::cancel::{self, CancelFilter};
use actix_web::{HttpRequest, HttpResponse, web};
use ingot_actors::run::state::RunStatus;
use ingot_actors::time::now_ms as now;
use serde::Deserialize;
use serde_json::json;

/// `POST /api/v1/runs/{id}/cancel`: cancels a run that has not finished. It stops between steps (a step in flight
/// finishes, but its run can persist nothing more) and never runs another step. 404 for an unknown run, 409 for a
/// finished one (neither is recorded).
pub async fn cancel_run(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    cancel(&state, &id, actor_of(&req)).await?;
    Ok(HttpResponse::Ok().json(json!({"id": id, "status": RunStatus::Cancelled.as_str()})))
}

/// Cancels one run for `actor` (the JSON API and the dashboard): the store's cancel, audited; 404 unknown run,
/// 409 finished run.
pub async fn cancel(state: &AppState, id: &str, actor: String) -> Result<(), ApiError> {
    let audit = Audit::new(actor, ActionKind::Cancel, json!({})).on_run(id);
    if cancel::cancel_one(&state.db, id, &audit, now()).await? {
        tracing::info!(run_id = %id, actor = %audit.actor, "run cancelled");
        return Ok(());
    }
    match read::get_run(&state.db, id).await? {
        Some(r) => Err(ApiError::Conflict(format!(
            "run {id:?} has already finished ({})",
            r.summary.status
        ))),
        None => Err(ApiError::NotFound(format!("no run {id:?}"))),
    }
}

/// One status or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Statuses {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkCancel {
    function: Option<String>,
    status: Option<Statuses>,
    from: Option<TimeArg>,
    to: Option<TimeArg>,
    event: Option<String>,
}

fn filter(b: BulkCancel, state: &AppState) -> Result<CancelFilter, ApiError> {
    if b.function.is_none() && b.status.is_none() && b.from.is_none() && b.to.is_none() && b.event.is_none() {
        return Err(ApiError::BadRequest(
            "give at least one of function, status, from, to, event (an empty filter would cancel every run)".into(),
        ));
    }
    if let Some(f) = &b.function
        && state.registry.get(f).is_none()
    {
        return Err(ApiError::BadRequest(format!("no function {f:?}")));
    }
    let names = match b.status {
        None => Vec::new(),
        Some(Statuses::One(s)) => vec![s],
        Some(Statuses::Many(v)) => v,
    };
    let allowed = cancel::cancellable();
    let list = || allowed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    let mut statuses = Vec::new();
    for n in names {
        match RunStatus::parse(&n) {
            Some(s) if allowed.contains(&s) => statuses.push(s),
            Some(_) => {
                return Err(ApiError::BadRequest(format!(
                    "status {n:?} is final: only unfinished runs ({}) can be cancelled",
                    list()
                )));
            }
            None => return Err(ApiError::BadRequest(format!("unknown status {n:?}; one of {}", list()))),
        }
    }
    let (from_ms, to_ms) = range(&b.from, &b.to)?;
    Ok(CancelFilter {
        function_id: b.function,
        statuses,
        from_ms,
        to_ms,
        event_name: b.event,
    })
}

/// `POST /api/v1/runs/cancel` with a JSON filter `{function, status, from, to, event}` (at least one; `from`/`to`
/// bound the runs' creation time): cancels every unfinished run it selects, in bounded batches. Answers the count.
pub async fn bulk_cancel(
    req: HttpRequest,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params: serde_json::Value = body(&bytes)?;
    let (n, action_id) = bulk_cancel_by(&state, params, actor_of(&req)).await?;
    Ok(HttpResponse::Ok().json(json!({"cancelled": n, "action_id": action_id})))
}

/// A bulk cancel by the filter `params` (`{function, status, from, to, event}`, checked here) for `actor` (the
/// JSON API and the dashboard). Returns how many runs it cancelled and the action's id.
pub async fn bulk_cancel_by(
    state: &AppState,
    params: serde_json::Value,
    actor: String,
) -> Result<(usize, String), ApiError> {
    let b: BulkCancel = serde_json::from_value(params.clone())
        .map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))?;
    let f = filter(b, state)?;
    let mut audit = Audit::new(actor, ActionKind::BulkCancel, params);
    audit.function_id = f.function_id.clone();
    let n = cancel::bulk_cancel(&state.db, &f, &audit, now()).await?;
    tracing::info!(cancelled = n, actor = %audit.actor, "runs cancelled by a bulk cancel");
    Ok((n, audit.id))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RerunBody {
    from_step: Option<String>,
}

/// `POST /api/v1/runs/{id}/rerun` (body optional: `{"from_step": "<step id>"}`): a new run of a finished run's
/// function from the same event, keeping the completed steps before `from_step`. 404 unknown run, 409 a run not
/// finished, 400 an unknown step.
pub async fn rerun(
    req: HttpRequest,
    id: web::Path<String>,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let b: RerunBody = body(&bytes)?;
    let (run, action_id) = rerun_one(&state, &id, b.from_step.clone(), actor_of(&req)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "id": run.id,
        "rerun_of": id,
        "function_id": run.function_id,
        "status": RunStatus::Queued.as_str(),
        "from_step": b.from_step,
        "kept_steps": run.kept_steps,
        "action_id": action_id,
    })))
}

/// Reruns a finished run (from a step) for `actor` (the JSON API and the dashboard), audited, and wakes its
/// function's pool. Returns the new run and the action's id.
pub async fn rerun_one(
    state: &AppState,
    id: &str,
    from_step: Option<String>,
    actor: String,
) -> Result<(rerun::Rerun, String), ApiError> {
    let params = json!({"from_step": from_step});
    let audit = Audit::new(actor, ActionKind::Rerun, params).on_run(id);
    let run = rerun::rerun(&state.db, &state.registry, id, from_step.as_deref(), &audit, now()).await?;
    state.supervisor.wake(vec![run.function_id.clone()]);
    tracing::info!(run_id = %id, new_run_id = %run.id, actor = %audit.actor, "run rerun");
    Ok((run, audit.id))
}
