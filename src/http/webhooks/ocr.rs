//! `POST /webhooks/ocr`: the OCR service's result (`{screenshotUrl, resourceId}`), authenticated by
//! `Authorization: Bearer <OCR_WEBHOOK_SECRET>`. Becomes `ocr/webhook` `{data}`, deduplicated by a body hash.

use super::{Incoming, body_id, parse_json, same, store};
use crate::http::AppState;
use crate::http::error::ApiError;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

pub async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Some(secret) = &state.config.integrations.ocr_webhook_secret else {
        return Err(ApiError::Unavailable(
            "OCR webhooks are not configured: set OCR_WEBHOOK_SECRET".into(),
        ));
    };
    let authorization = req.headers().get("authorization").and_then(|h| h.to_str().ok());
    if !bearer_ok(authorization, secret.expose()) {
        return Err(ApiError::NotAuthenticated("missing or wrong bearer token".into()));
    }
    store(&state, "ocr", incoming(&body)?).await
}

/// Whether `Authorization` is `Bearer <secret>`.
pub fn bearer_ok(authorization: Option<&str>, secret: &str) -> bool {
    authorization
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| same(t.trim(), secret))
}

/// Our event for one OCR result body, deduplicated by a hash of the body.
pub fn incoming(body: &[u8]) -> Result<Vec<Incoming>, ApiError> {
    let data = parse_json(body)?;
    Ok(vec![Incoming {
        name: "ocr/webhook".into(),
        data: json!({ "data": data }),
        id: body_id("ocr", body),
    }])
}
