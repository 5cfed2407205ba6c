//! `POST /webhooks/postmark`: Postmark's delivery, bounce, spam-complaint, open, click and subscription-change
//! webhooks. Authenticated by `POSTMARK_WEBHOOK_SECRET`, sent either in the `course-builder` header (the platform's
//! set-up) or as the basic-auth password (Postmark's own option). Becomes `postmark/webhook` `{event: RecordType,
//! data: <body>}`; the dedupe id is a hash of the body, so Postmark's retries are not processed twice.

use super::{Incoming, body_id, parse_json, same, store};
use crate::http::AppState;
use crate::http::error::ApiError;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde_json::json;

pub async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Some(secret) = &state.config.integrations.postmark_webhook_secret else {
        return Err(ApiError::Unavailable(
            "Postmark webhooks are not configured: set POSTMARK_WEBHOOK_SECRET".into(),
        ));
    };
    let header = |n: &str| req.headers().get(n).and_then(|h| h.to_str().ok());
    if !authenticated(header("course-builder"), header("authorization"), secret.expose()) {
        return Err(ApiError::NotAuthenticated(
            "missing or wrong Postmark webhook secret".into(),
        ));
    }
    store(&state, "postmark", incoming(&body)?).await
}

/// Whether the `course-builder` header or the basic-auth password (`Authorization: Basic …`) is `secret`.
pub fn authenticated(course_builder: Option<&str>, authorization: Option<&str>, secret: &str) -> bool {
    let by_header = course_builder.is_some_and(|v| same(v, secret));
    let by_basic = authorization
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| pair.split_once(':').map(|(_, p)| p.to_string()))
        .is_some_and(|p| same(&p, secret));
    by_header || by_basic
}

/// Our event for one Postmark delivery (its body as sent); a body without a `RecordType` is refused.
pub fn incoming(body: &[u8]) -> Result<Vec<Incoming>, ApiError> {
    let data = parse_json(body)?;
    let record_type = data["RecordType"]
        .as_str()
        .ok_or_else(|| ApiError::BadRequest("a Postmark webhook has a RecordType".into()))?
        .to_string();
    Ok(vec![Incoming {
        name: crate::functions::email::postmark_webhook::EVENT.into(),
        data: json!({"event": record_type, "data": data}),
        id: body_id("postmark", body),
    }])
}

#[cfg(test)]
mod tests {
    use super::authenticated;

    /// Postmark signs nothing: its webhooks authenticate by a custom header or HTTP basic auth
    /// (https://postmarkapp.com/developer/webhooks/webhooks-overview), so the published known answer is basic auth's
    /// own: RFC 7617 §2, user "Aladdin", password "open sesame", https://www.rfc-editor.org/rfc/rfc7617#section-2.
    #[test]
    fn basic_auth_matches_rfc_7617() {
        let header = Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(authenticated(None, header, "open sesame"));
        assert!(!authenticated(None, header, "open sesame!"));
        assert!(!authenticated(None, header, "Aladdin"));
        assert!(authenticated(Some("open sesame"), None, "open sesame"));
        assert!(!authenticated(None, None, "open sesame"));
    }
}
