//! `GET /metrics`: the Prometheus text exposition (see [`crate::metrics`]). Gathers the async parts (the
//! pools' figures from the supervisor, queued runs from the database) and renders; a database that does not
//! answer leaves out the queue depth and sets `ingot_database_up` to 0 rather than failing the scrape.

use super::AppState;
use crate::metrics::{Scrape, ServiceFigures};
use crate::store::read::queued_counts;
use actix_web::{HttpResponse, web};
use std::time::Duration;

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let pools = tokio::time::timeout(Duration::from_secs(5), state.supervisor.health())
        .await
        .unwrap_or_default();
    let queued = match tokio::time::timeout(Duration::from_secs(5), queued_counts(&state.db)).await {
        Ok(Ok(q)) => Some(q),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: queued runs unavailable");
            None
        }
        Err(_) => None,
    };
    let services = state
        .integrations
        .services()
        .iter()
        .map(|s| ServiceFigures {
            stats: s.stats(),
            latency: s.latency(),
        })
        .collect();
    let scrape = Scrape {
        runtime: state.supervisor.runtime().clone(),
        app: state.metrics.clone(),
        pools,
        queued,
        dropped_wakes: state.supervisor.dropped_wakes(),
        services,
        pruner: state.retention.snapshot(),
        db_queries: crate::store::db::queries_total(),
        uptime_seconds: state.started.elapsed().as_secs(),
    };
    HttpResponse::Ok()
        .content_type(prometheus_client::encoding::prometheus_text::CONTENT_TYPE)
        .body(scrape.render())
}
