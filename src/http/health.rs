//! `GET /health` (liveness and the supervisor's view of every pool) and `GET /health/ready` (the database takes a
//! write). Both answer within the database deadline.

use super::AppState;
use super::error::ApiError;
use crate::store::nodes::{self, Node};
use crate::store::read::queued_counts;
use actix_web::{HttpResponse, web};
use ingot_actors::time::{now_ms, rfc3339};
use serde_json::json;
use std::time::Duration;

pub async fn health(state: web::Data<AppState>, gate: web::Data<super::guard::Gate>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(report(&state, &gate).await?))
}

/// What `GET /health` answers (the dashboard's Health page renders the same value).
pub async fn report(state: &AppState, gate: &super::guard::Gate) -> Result<serde_json::Value, ApiError> {
    let pools = tokio::time::timeout(Duration::from_secs(5), state.supervisor.health())
        .await
        .map_err(|_| ApiError::Unavailable("the supervisor did not answer within 5s".into()))?;
    let queued = state.db.within(queued_counts(&state.db)).await;
    let database = if queued.is_ok() { "ok" } else { "unavailable" };
    let queued = queued.unwrap_or_default();
    let rt = state.supervisor.runtime();
    let nodes = match state.db.within(crate::store::nodes::list(&state.db)).await {
        Ok(list) => json!(node_list(&list, &rt.config.node_id, state.config.lease_ttl, now_ms())),
        Err(_) => serde_json::Value::Null,
    };
    let functions: Vec<_> = pools
        .iter()
        .map(|p| {
            json!({
                "id": p.function_id,
                "queued": queued.get(&p.function_id).copied().unwrap_or(0),
                "running": p.running,
                "slots": p.slots,
                "mailbox_capacity": p.mailbox_capacity,
                "claimed_total": p.claimed_total,
            })
        })
        .collect();
    Ok(json!({
        "status": 200,
        "message": "OK",
        "node_id": rt.config.node_id,
        "backend": state.db.backend(),
        "database": database,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "shutting_down": rt.is_shutting_down(),
        "auth": state.auth.config.mode(),
        "supervisor": {
            "mailbox_capacity": rt.config.mailbox_capacity,
            "dropped_wakes": state.supervisor.dropped_wakes(),
        },
        "admission": gate.snapshot(),
        "functions": functions,
        "nodes": nodes,
        "services": state.integrations.stats(),
        "retention": {
            "retention_seconds": state.config.retention.as_secs(),
            "prune_interval_seconds": state.config.prune_interval.as_secs(),
            "pruner": state.retention.snapshot(),
        },
    }))
}

/// Every node sharing the database (`nodes`): when it started, its last heartbeat and that heartbeat's age, and
/// `live` or `stale` (stale: older than `INGOT_LEASE_TTL`, so the other nodes rescue its running runs); `this`
/// marks the node answering.
pub fn node_list(nodes: &[Node], this: &str, lease_ttl: Duration, now_ms: i64) -> Vec<serde_json::Value> {
    let ttl_ms = lease_ttl.as_millis() as i64;
    nodes
        .iter()
        .map(|n| {
            json!({
                "id": n.id,
                "this": n.id == this,
                "state": if nodes::is_live(n, now_ms, ttl_ms) { "live" } else { "stale" },
                "started_at": rfc3339(n.started_at),
                "heartbeat_at": rfc3339(n.heartbeat_at),
                "heartbeat_age_ms": (now_ms - n.heartbeat_at).max(0),
            })
        })
        .collect()
}

/// Ready when the database takes a write within `INGOT_DB_TIMEOUT`, on the probes' own connection
/// ([`crate::store::Db::probe_write`]): a locked `events` table, a full or read-only SQLite file, a database
/// that does not answer — each is 503.
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .db
        .probe_write()
        .await
        .map_err(|e| ApiError::Unavailable(format!("database: {e}")))?;
    if state.supervisor.runtime().is_shutting_down() {
        return Err(ApiError::Unavailable("shutting down".into()));
    }
    Ok(HttpResponse::Ok().json(json!({"status": 200, "message": "ready"})))
}
