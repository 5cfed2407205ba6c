//! Dashboard sessions: the cookie `ingot_session` holds 256 random bits; the database keeps its SHA-256 with the
//! expiry (`INGOT_SESSION_TTL`). The cookie is `HttpOnly; SameSite=Strict; Path=/` and `Secure` when
//! `INGOT_COOKIE_SECURE=true`.
//!
//! CSRF: every non-GET request made with the cookie must carry the session's CSRF token, in the `X-CSRF-Token`
//! header or a `csrf_token` form field. The token is the SHA-256 of `"csrf:"` and the cookie's value: pages can
//! print it, and it reveals nothing about the cookie (checked in `middleware.rs`). Bearer-token requests carry no
//! cookie a browser would add by itself, so they need no CSRF token.

use super::identity::{Access, Identity, Principal};
use super::{AuthConfig, random_hex, sha256_hex};
use crate::store::auth::sessions::{self as store, NewSession};
use crate::store::{Db, Result};
use actix_web::HttpRequest;
use actix_web::dev::ServiceRequest;

pub const COOKIE: &str = "ingot_session";
/// The header and the form field carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "csrf_token";

/// The CSRF token of the session whose cookie value is `cookie`.
pub fn csrf_token(cookie: &str) -> String {
    sha256_hex(&format!("csrf:{cookie}"))
}

/// Starts a session for `operator_id`; returns the cookie value (never stored).
pub async fn start(db: &Db, config: &AuthConfig, operator_id: &str) -> Result<String> {
    let value = random_hex(32);
    let now = ingot_actors::time::now_ms();
    store::create(
        db,
        &NewSession {
            id_sha256: &sha256_hex(&value),
            operator_id,
            created_at: now,
            expires_at: now + config.session_ttl.as_millis() as i64,
        },
    )
    .await?;
    Ok(value)
}

/// The identity a session cookie proves (`None`: unknown, ended or expired).
pub async fn authenticate(db: &Db, cookie: &str) -> Result<Option<Identity>> {
    let now = ingot_actors::time::now_ms();
    Ok(store::operator_of(db, &sha256_hex(cookie), now)
        .await?
        .map(|name| Identity {
            principal: Principal::User { name },
            access: Access::Full,
            csrf_token: Some(csrf_token(cookie)),
        }))
}

/// Ends the session whose cookie value is `cookie`.
pub async fn end(db: &Db, cookie: &str) -> Result<bool> {
    store::delete(db, &sha256_hex(cookie)).await
}

/// The `Set-Cookie` value that installs a session.
pub fn set_cookie(config: &AuthConfig, value: &str) -> String {
    let secure = if config.cookie_secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        config.session_ttl.as_secs()
    )
}

/// The `Set-Cookie` value that removes it.
pub fn clear_cookie(config: &AuthConfig) -> String {
    let secure = if config.cookie_secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// The session cookie's value in a `Cookie` header, if any.
pub fn cookie_in(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    headers
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

pub fn cookie_of(req: &HttpRequest) -> Option<String> {
    cookie_in(req.headers())
}

pub fn cookie_of_service(req: &ServiceRequest) -> Option<String> {
    cookie_in(req.headers())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{COOKIE as COOKIE_HEADER, HeaderMap, HeaderValue};
    use std::time::Duration;

    #[test]
    fn cookies_are_httponly_strict_and_secure_when_configured() {
        let mut config = AuthConfig {
            enabled: true,
            admin_token_sha256: None,
            session_ttl: Duration::from_secs(3600),
            cookie_secure: false,
        };
        let c = set_cookie(&config, "abc");
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Max-Age=3600"),
            "{c}"
        );
        assert!(!c.contains("Secure;") && !c.ends_with("Secure"), "{c}");
        config.cookie_secure = true;
        assert!(set_cookie(&config, "abc").ends_with("; Secure"));
        assert!(clear_cookie(&config).contains("Max-Age=0"));
    }

    #[test]
    fn finds_the_session_cookie_among_others_and_derives_a_csrf_token() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE_HEADER,
            HeaderValue::from_static("a=1; ingot_session=s3cr3t; b=2"),
        );
        assert_eq!(cookie_in(&h).as_deref(), Some("s3cr3t"));
        assert_eq!(cookie_in(&HeaderMap::new()), None);
        let t = csrf_token("s3cr3t");
        assert_eq!(t.len(), 64);
        assert!(!t.contains("s3cr3t") && t != csrf_token("other"));
    }
}
