//! `POST /e/{event_key}`: store the events and their runs durably, then answer `{"ids": [...], "status": 200}`.

use super::AppState;
use super::error::ApiError;
use super::intake::parse_body;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use ingot_actors::event::{NewEvent, Target, prepare_valid};
use ingot_actors::time::now_ms;
use serde_json::json;

pub async fn ingest(
    req: HttpRequest,
    path: web::Path<String>,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !state.config.accepts_event_key(&path.into_inner()) {
        return Err(ApiError::Unauthorized);
    }
    let limit = state.config.max_request_bytes;
    // Sized once from Content-Length (what admission counted): a buffer grown by doubling would hold up to twice
    // the body. A length over the limit reserves nothing (the body is refused as it arrives).
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = web::BytesMut::with_capacity(if announced <= limit { announced } else { 0 });
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge(format!(
                "Request body is over the max size of {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let now = now_ms();
    let parsed = parse_body(&body, now)?;
    // The parsed events hold what is stored; the raw body is not kept while the request waits for the database.
    drop(body);
    let batch: Vec<NewEvent> = parsed
        .into_iter()
        .map(|valid| prepare_valid(valid, Target::Triggers(&state.registry), now))
        .collect();
    let ids: Vec<String> = batch.iter().map(|e| e.id.clone()).collect();
    // In the worker's next intake group. Bounded: past the deadline the request withdraws, or its group's
    // transaction is dropped before its COMMIT (rolled back, never committed later), and the producer gets 503
    // with Retry-After.
    let ingested = state.intake.ingest(batch, now).await?;
    tracing::info!(events = ids.len(), "events stored");
    state.supervisor.wake(ingested.woken);
    Ok(HttpResponse::Ok().json(json!({"ids": ids, "status": 200})))
}
