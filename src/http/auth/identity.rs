//! [`Identity`]: who made a request, as the auth middleware established it. Handlers take it as an extractor:
//! `async fn act(identity: Identity, ...)`; [`Identity::who`] is what an audit log records.

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload};
use std::future::{Ready, ready};

/// Who is behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An API token from `ingot token create` (or the first start's `admin`), by name.
    Token { name: String },
    /// The token configured by its hash in `INGOT_ADMIN_TOKEN_SHA256`.
    ConfiguredToken,
    /// A dashboard user signed in with a session cookie, by name.
    User { name: String },
    /// `INGOT_AUTH=off`: nobody was checked.
    AuthOff,
}

/// What the principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// GET/HEAD only (tokens created with `--read-only`).
    ReadOnly,
    /// Read and act.
    Full,
}

/// The authenticated caller of one request (in the request's extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub principal: Principal,
    pub access: Access,
    /// The session's CSRF token, for cookie sessions (pages put it in their forms as `csrf_token`).
    pub csrf_token: Option<String>,
}

impl Identity {
    pub fn auth_off() -> Identity {
        Identity {
            principal: Principal::AuthOff,
            access: Access::Full,
            csrf_token: None,
        }
    }

    /// A short, stable label for audit logs: `token:NAME`, `admin-token` (configured), `user:NAME`, `auth-off`.
    pub fn who(&self) -> String {
        match &self.principal {
            Principal::Token { name } => format!("token:{name}"),
            Principal::ConfiguredToken => "admin-token".into(),
            Principal::User { name } => format!("user:{name}"),
            Principal::AuthOff => "auth-off".into(),
        }
    }

    /// Whether this caller may act (POST and other non-GET requests).
    pub fn can_act(&self) -> bool {
        self.access == Access::Full
    }
}

/// Extracts the identity the middleware attached. A route outside the middleware's protection has none: 401.
impl FromRequest for Identity {
    type Error = crate::http::error::ApiError;
    type Future = Ready<Result<Identity, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Identity>()
                .cloned()
                .ok_or(crate::http::error::ApiError::NotAuthenticated(
                    super::middleware::UNAUTHENTICATED.into(),
                )),
        )
    }
}
