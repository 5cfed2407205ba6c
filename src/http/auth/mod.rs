//! Authentication: who may read the API, act on runs and open the dashboard.
//!
//! - [`middleware`] guards every route except the open ones ([`is_open`]): event intake (`/e/{key}`, which has its
//!   event keys), webhooks (their signatures), `/health`, `/health/ready` and the login page. Everything else —
//!   `/api/v1/...`, the dashboard under [`DASHBOARD_PREFIX`], any route added later — needs credentials, unless
//!   `INGOT_AUTH=off`.
//! - Credentials: an API token in `Authorization: Bearer` ([`tokens`]), or a dashboard session cookie
//!   ([`sessions`]) from `POST /login` ([`login`]), with a CSRF token on every non-GET request.
//! - The request's [`Identity`] is put in its extensions; handlers take it as an extractor (the actions' audit
//!   records `Identity::who()`).
//! - [`bootstrap`]: the first start creates an admin token and shows it once; [`commands`]: `ingot token ...` and
//!   `ingot user ...`.

pub mod bootstrap;
pub mod commands;
pub mod identity;
pub mod login;
pub mod middleware;
pub mod passwords;
pub mod sessions;
pub mod tokens;

pub use identity::{Access, Identity, Principal};

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The prefix reserved for the dashboard's pages (protected like the API; unauthenticated browsers are sent to
/// `/login`).
pub const DASHBOARD_PREFIX: &str = "/dashboard";

/// Routes anyone may call: they carry their own credentials (event keys, webhook signatures) or none is needed.
pub fn is_open(path: &str) -> bool {
    path.starts_with("/e/") || path.starts_with("/webhooks/") || matches!(path, "/health" | "/health/ready" | "/login")
}

/// Authentication settings (`INGOT_AUTH`, `INGOT_ADMIN_TOKEN_SHA256`, `INGOT_SESSION_TTL`, `INGOT_COOKIE_SECURE`).
#[derive(Clone)]
pub struct AuthConfig {
    /// `INGOT_AUTH=on` (default).
    pub enabled: bool,
    /// SHA-256 of an extra admin token from configuration (automation, the test harness).
    pub admin_token_sha256: Option<[u8; 32]>,
    pub session_ttl: Duration,
    pub cookie_secure: bool,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("enabled", &self.enabled)
            .field("admin_token_sha256", &self.admin_token_sha256.map(|_| "***"))
            .field("session_ttl", &self.session_ttl)
            .field("cookie_secure", &self.cookie_secure)
            .finish()
    }
}

impl AuthConfig {
    /// Parses `INGOT_ADMIN_TOKEN_SHA256`: empty, or 64 hex digits.
    pub fn parse_sha256(v: &str) -> Result<Option<[u8; 32]>, String> {
        if v.is_empty() {
            return Ok(None);
        }
        let bytes = hex::decode(v).map_err(|_| "must be 64 hex digits (the SHA-256 of the token)".to_string())?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "must be 64 hex digits (the SHA-256 of the token)".to_string())?;
        Ok(Some(arr))
    }

    /// `"on"` or `"off"`, as `/health` reports it.
    pub fn mode(&self) -> &'static str {
        if self.enabled { "on" } else { "off" }
    }
}

/// What the HTTP workers share about authentication: the settings and when each token's last use was written.
pub struct AuthState {
    pub config: AuthConfig,
    /// token id → when its `last_used_at` was last written by this daemon (written at most once a minute).
    last_written: Mutex<HashMap<String, Instant>>,
}

/// How often a token's `last_used_at` is written at most (per token, per daemon).
pub const LAST_USED_EVERY: Duration = Duration::from_secs(60);

impl AuthState {
    pub fn new(config: AuthConfig) -> AuthState {
        AuthState {
            config,
            last_written: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this use of token `id` should be written now (and notes that it is).
    pub fn should_touch(&self, id: &str, now: Instant) -> bool {
        let mut map = self.last_written.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(id) {
            Some(at) if now.duration_since(*at) < LAST_USED_EVERY => false,
            _ => {
                if map.len() > 10_000 {
                    map.clear();
                }
                map.insert(id.to_string(), now);
                true
            }
        }
    }
}

/// `n` random bytes from the thread's CSPRNG, as lowercase hex.
pub fn random_hex(n: usize) -> String {
    use rand::RngCore;
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// SHA-256 of `s`.
pub fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// SHA-256 of `s` as lowercase hex (what the tables store).
pub fn sha256_hex(s: &str) -> String {
    hex::encode(sha256(s))
}

/// Constant-time equality of two byte strings of the same length (false, in constant time, for different lengths
/// of the public hashes compared here, which never happens).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_routes_are_exactly_intake_webhooks_health_and_login() {
        for open in ["/e/key", "/webhooks/stripe", "/health", "/health/ready", "/login"] {
            assert!(is_open(open), "{open}");
        }
        for closed in [
            "/api/v1/runs",
            "/api/v1/drain",
            "/api/v1/runs/x/cancel",
            "/dashboard",
            "/dashboard/runs",
            "/logout",
            "/metrics",
            "/healthz",
            "/health/other",
            "/e",
            "/",
        ] {
            assert!(!is_open(closed), "{closed}");
        }
    }

    #[test]
    fn last_used_is_written_at_most_once_a_minute() {
        let s = AuthState::new(AuthConfig {
            enabled: true,
            admin_token_sha256: None,
            session_ttl: Duration::from_secs(3600),
            cookie_secure: false,
        });
        let t0 = Instant::now();
        assert!(s.should_touch("a", t0));
        assert!(!s.should_touch("a", t0 + Duration::from_secs(59)));
        assert!(s.should_touch("b", t0 + Duration::from_secs(1)));
        assert!(s.should_touch("a", t0 + Duration::from_secs(61)));
    }

    #[test]
    fn the_admin_hash_setting_is_64_hex_digits() {
        assert_eq!(AuthConfig::parse_sha256(""), Ok(None));
        assert!(AuthConfig::parse_sha256(&"ab".repeat(32)).unwrap().is_some());
        assert!(AuthConfig::parse_sha256("abc").is_err());
        assert!(AuthConfig::parse_sha256(&"zz".repeat(32)).is_err());
    }
}
