//! `POST /webhooks/mux`: Mux video webhooks (`video.asset.ready`, `video.asset.errored`, ...). With
//! `MUX_WEBHOOK_SECRET` set, `Mux-Signature` (`t=…,v1=…`, HMAC-SHA256 over `t.body`, 5 minutes) is required;
//! without it the webhook is accepted unsigned, as the platform did (a warning at start says so). Becomes
//! `mux/web-hook-event` `{muxWebhookEvent}`, deduplicated by Mux's event id.

use super::{Incoming, body_id, parse_json, store, verify_signature};
use crate::http::AppState;
use crate::http::error::ApiError;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

pub async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Some(secret) = &state.config.integrations.mux_webhook_secret {
        let header = req
            .headers()
            .get("mux-signature")
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| ApiError::BadRequest("missing Mux-Signature".into()))?;
        verify_signature(
            header,
            &body,
            &[secret.expose()],
            ingot_actors::time::now_ms() / 1000,
            300,
        )
        .map_err(|e| ApiError::BadRequest(format!("invalid Mux-Signature: {e}")))?;
    }
    store(&state, "mux", incoming(&body)?).await
}

/// Our event for one Mux webhook body, deduplicated by Mux's event id (else a hash of the body).
pub fn incoming(body: &[u8]) -> Result<Vec<Incoming>, ApiError> {
    let event = parse_json(body)?;
    let id = match event["id"].as_str() {
        Some(id) if !id.is_empty() => format!("mux:{id}"),
        _ => body_id("mux", body),
    };
    Ok(vec![Incoming {
        name: "mux/web-hook-event".into(),
        data: json!({ "muxWebhookEvent": event }),
        id,
    }])
}
