//! `POST /webhooks/deepgram?videoResourceId=…&secret=…`: Deepgram's transcription callback. The callback URL is
//! ours ([`crate::integrations::deepgram`] builds it), so it carries `DEEPGRAM_CALLBACK_SECRET`; a wrong or
//! missing secret is refused. Becomes `deepgram/web-hook-event` `{videoResourceId, results}` (the original
//! platform's name for it), deduplicated by Deepgram's request id; `process-deepgram-transcript` stores the
//! transcript and derives the subtitles.

use super::{Incoming, body_id, parse_json, same, store};
use crate::http::AppState;
use crate::http::error::ApiError;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct Query {
    #[serde(rename = "videoResourceId")]
    video_resource_id: String,
    #[serde(default)]
    secret: String,
}

pub async fn receive(
    query: web::Query<Query>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(secret) = &state.config.integrations.deepgram_callback_secret else {
        return Err(ApiError::Unavailable(
            "Deepgram callbacks are not configured: set DEEPGRAM_CALLBACK_SECRET".into(),
        ));
    };
    if !same(&query.secret, secret.expose()) {
        return Err(ApiError::NotAuthenticated("missing or wrong callback secret".into()));
    }
    store(&state, "deepgram", incoming(&query.video_resource_id, &body)?).await
}

/// Our event for one Deepgram callback body, deduplicated by Deepgram's request id (else a hash of the body).
pub fn incoming(video_resource_id: &str, body: &[u8]) -> Result<Vec<Incoming>, ApiError> {
    let results = parse_json(body)?;
    let id = match results["metadata"]["request_id"].as_str() {
        Some(r) if !r.is_empty() => format!("deepgram:{r}"),
        _ => body_id("deepgram", body),
    };
    Ok(vec![Incoming {
        name: crate::functions::video::DEEPGRAM_WEBHOOK.into(),
        data: json!({"videoResourceId": video_resource_id, "results": results}),
        id,
    }])
}
