//! Actions on functions: replay a time range of events to one, pause and resume.

use super::{TimeArg, actor_of, body, range};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::store::actions::audit::{ActionKind, Audit};
use crate::store::actions::pauses;
use crate::store::actions::replay::{self, ReplayRequest, Replayed};
use actix_web::{HttpRequest, HttpResponse, web};
use ingot_actors::time::now_ms;
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    from: Option<TimeArg>,
    to: Option<TimeArg>,
    event: Option<String>,
}

/// `POST /api/v1/functions/{id}/replay` `{"from": t, "to": t, "event": "<name>"?}`: one new run per stored event
/// received in `[from, to]` that the function's triggers match now. Answers the counts and the new runs' ids.
pub async fn replay(
    req: HttpRequest,
    id: web::Path<String>,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let function_id = id.into_inner();
    let params: serde_json::Value = body(&bytes)?;
    let (out, action_id) = replay_to(&state, &function_id, params, actor_of(&req)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "function_id": function_id,
        "events": out.events,
        "runs_created": out.run_ids.len(),
        "not_matched": out.not_matched,
        "run_ids": out.run_ids,
        "action_id": action_id,
    })))
}

/// Replays the events `params` selects (`{from, to, event?}`, checked here) to a function for `actor` (the JSON
/// API and the dashboard), audited; wakes the pool when runs were created.
pub async fn replay_to(
    state: &AppState,
    function_id: &str,
    params: serde_json::Value,
    actor: String,
) -> Result<(Replayed, String), ApiError> {
    let b: ReplayBody = serde_json::from_value(params.clone())
        .map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))?;
    let (Some(from), Some(to)) = range(&b.from, &b.to)? else {
        return Err(ApiError::BadRequest("from and to are required".into()));
    };
    let request = ReplayRequest {
        function_id: function_id.to_string(),
        from_ms: from,
        to_ms: to,
        event_name: b.event,
    };
    let audit = Audit::new(actor, ActionKind::Replay, params).on_function(function_id);
    let out = replay::replay(&state.db, &state.registry, &request, &audit, now_ms()).await?;
    if !out.run_ids.is_empty() {
        state.supervisor.wake(vec![function_id.to_string()]);
    }
    tracing::info!(function_id, runs = out.run_ids.len(), actor = %audit.actor, "events replayed");
    Ok((out, audit.id))
}

fn known(state: &AppState, id: &str) -> Result<(), ApiError> {
    match state.registry.get(id) {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound(format!("no function {id:?}"))),
    }
}

/// `POST /api/v1/functions/{id}/pause`: the function's runs are held (not claimed) until it is resumed; events
/// still create them. 404 unknown function, 409 already paused.
pub async fn pause(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let action_id = set_paused(&state, &id, true, actor_of(&req)).await?;
    Ok(HttpResponse::Ok().json(json!({"id": id, "paused": true, "action_id": action_id})))
}

/// `POST /api/v1/functions/{id}/resume`: the held runs are claimed again, oldest first. 404 unknown function,
/// 409 not paused.
pub async fn resume(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let action_id = set_paused(&state, &id, false, actor_of(&req)).await?;
    Ok(HttpResponse::Ok().json(json!({"id": id, "paused": false, "action_id": action_id})))
}

/// Pauses (`paused`) or resumes a function for `actor` (the JSON API and the dashboard), audited; a resume wakes
/// its pool. Returns the action's id.
pub async fn set_paused(state: &AppState, id: &str, paused: bool, actor: String) -> Result<String, ApiError> {
    known(state, id)?;
    let now = now_ms();
    if paused {
        let audit = Audit::new(actor, ActionKind::Pause, json!({})).on_function(id);
        if !pauses::pause(&state.db, id, &audit, now).await? {
            return Err(ApiError::Conflict(format!("function {id:?} is already paused")));
        }
        tracing::info!(function_id = %id, actor = %audit.actor, "function paused");
        Ok(audit.id)
    } else {
        let audit = Audit::new(actor, ActionKind::Resume, json!({})).on_function(id);
        if !pauses::resume(&state.db, id, &audit, now).await? {
            return Err(ApiError::Conflict(format!("function {id:?} is not paused")));
        }
        state.supervisor.wake(vec![id.to_string()]);
        tracing::info!(function_id = %id, actor = %audit.actor, "function resumed");
        Ok(audit.id)
    }
}
