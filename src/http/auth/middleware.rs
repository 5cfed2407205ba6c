//! The auth middleware (`actix_web::middleware::from_fn`), wrapped around every route in `http::serve`.
//!
//! For a route that is not open ([`super::is_open`]):
//! 1. `INGOT_AUTH=off`: the request goes on as [`Identity::auth_off`].
//! 2. `Authorization: Bearer <token>` → [`super::tokens::authenticate`]; else the session cookie →
//!    [`super::sessions::authenticate`]. Nothing valid: **401**, one body for every cause (dashboard pages
//!    redirect a browser's GET to `/login` instead).
//! 3. A non-GET/HEAD request needs [`Access::Full`] (**403** for a read-only token) and, when the identity came from
//!    the cookie, the session's CSRF token in `X-CSRF-Token` or a `csrf_token` form field (**403**).
//! 4. The [`Identity`] goes into the request's extensions for handlers.

use super::identity::{Access, Identity};
use super::sessions::{self, CSRF_FIELD, CSRF_HEADER};
use super::{DASHBOARD_PREFIX, ct_eq, is_open, tokens};
use crate::http::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use serde_json::json;

/// The one message of every 401 (unknown token, wrong secret, revoked, expired session, nothing sent).
pub const UNAUTHENTICATED: &str = "authentication required";
/// Largest form body read to find a CSRF field.
const MAX_FORM_BYTES: usize = 64 * 1024;

fn error(status: StatusCode, message: &str) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        r.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"ingot\""));
    }
    r.json(json!({"ids": [], "status": status.as_u16(), "error": message}))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub async fn authenticate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if is_open(req.path()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.into_response(error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")));
    };
    if !state.auth.config.enabled {
        req.extensions_mut().insert(Identity::auth_off());
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let bearer = req.headers().get(header::AUTHORIZATION).map(|v| {
        v.to_str()
            .ok()
            .and_then(|s| s.strip_prefix("Bearer ").or_else(|| s.strip_prefix("bearer ")))
            .map(|s| s.trim().to_string())
    });
    let cookie = sessions::cookie_of_service(&req);
    let found = match (&bearer, &cookie) {
        // An Authorization header decides, even when a cookie is also sent.
        (Some(Some(token)), _) => tokens::authenticate(&state.db, &state.auth, token).await,
        (Some(None), _) => Ok(None),
        (None, Some(c)) => sessions::authenticate(&state.db, c).await,
        (None, None) => Ok(None),
    };
    let identity = match found {
        Ok(Some(i)) => i,
        Ok(None) => {
            if req.path().starts_with(DASHBOARD_PREFIX) && is_safe(req.method()) {
                let to_login = HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, "/login"))
                    .finish();
                return Ok(req.into_response(to_login));
            }
            return Ok(req.into_response(error(StatusCode::UNAUTHORIZED, UNAUTHENTICATED)));
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot check credentials: database unavailable");
            let r = error(StatusCode::SERVICE_UNAVAILABLE, "the database is unavailable; retry");
            return Ok(req.into_response(r));
        }
    };
    if !is_safe(req.method()) {
        if identity.access != Access::Full {
            return Ok(req.into_response(error(StatusCode::FORBIDDEN, "this token is read-only")));
        }
        if let Some(expected) = &identity.csrf_token
            && !csrf_ok(&mut req, expected).await
        {
            return Ok(req.into_response(error(
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token (X-CSRF-Token header or csrf_token form field)",
            )));
        }
    }
    req.extensions_mut().insert(identity);
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Whether the request carries the session's CSRF token: in the header, or in a URL-encoded form body (read,
/// then put back for the handler).
async fn csrf_ok(req: &mut ServiceRequest, expected: &str) -> bool {
    if let Some(v) = req.headers().get(CSRF_HEADER) {
        return ct_eq(v.as_bytes(), expected.as_bytes());
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return false;
    }
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    use futures_util::StreamExt;
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else { return false };
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return false;
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let presented = std::str::from_utf8(&body).ok().and_then(|text| {
        text.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == CSRF_FIELD)
            .map(|(_, v)| v.to_string())
    });
    req.set_payload(actix_web::dev::Payload::from(body));
    presented.is_some_and(|p| ct_eq(p.as_bytes(), expected.as_bytes()))
}
