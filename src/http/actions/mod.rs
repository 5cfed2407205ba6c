//! The operator's actions in the JSON API (issue 13): cancel, bulk cancel, rerun (from a step), replay, pause and
//! resume, and the audit list. Each handler validates its input (a refused action changes nothing), lets the
//! store change the database and record the action in one transaction, and only then wakes the supervisor.
//!
//! - [`runs`]: `POST /api/v1/runs/{id}/cancel`, `POST /api/v1/runs/cancel`, `POST /api/v1/runs/{id}/rerun`.
//! - [`functions`]: `POST /api/v1/functions/{id}/replay`, `/pause`, `/resume`.
//! - here: `GET /api/v1/actions`, and who acts ([`actor_of`]).

pub mod functions;
pub mod runs;

use super::AppState;
use super::error::ApiError;
use crate::store::actions::audit::{self, ActionFilter};
use crate::store::actions::{ActionError, Refusal};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// Who performs an action, as the audit records it: the authenticated identity (`token:NAME`, `user:NAME`,
/// `admin-token`, `auth-off`); `anonymous` only if a route were reached without the auth middleware.
pub fn actor_of(req: &HttpRequest) -> String {
    use actix_web::HttpMessage;
    req.extensions()
        .get::<crate::http::auth::Identity>()
        .map(|identity| identity.who())
        .unwrap_or_else(|| "anonymous".to_string())
}

impl From<ActionError> for ApiError {
    fn from(e: ActionError) -> Self {
        match e {
            ActionError::Refused(Refusal::NotFound(m)) => ApiError::NotFound(m),
            ActionError::Refused(Refusal::Conflict(m)) => ApiError::Conflict(m),
            ActionError::Refused(Refusal::BadRequest(m)) => ApiError::BadRequest(m),
            ActionError::Store(e) => e.into(),
        }
    }
}

/// A JSON body (an empty body reads as `{}`); a malformed one, or one with unknown fields, is a 400.
pub(crate) fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = if bytes.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        bytes
    };
    serde_json::from_slice(text).map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))
}

/// A time in a request: milliseconds since the epoch, or an RFC 3339 string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TimeArg {
    Ms(i64),
    Text(String),
}

impl TimeArg {
    pub fn ms(&self, field: &str) -> Result<i64, ApiError> {
        match self {
            TimeArg::Ms(ms) => Ok(*ms),
            TimeArg::Text(t) => chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| d.timestamp_millis())
                .map_err(|e| {
                    ApiError::BadRequest(format!(
                        "{field}: {t:?} is not a time (milliseconds since the epoch, or RFC 3339): {e}"
                    ))
                }),
        }
    }
}

/// Checks an optional inclusive range.
pub(crate) fn range(from: &Option<TimeArg>, to: &Option<TimeArg>) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let from = from.as_ref().map(|t| t.ms("from")).transpose()?;
    let to = to.as_ref().map(|t| t.ms("to")).transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(ApiError::BadRequest("from must not be after to".into()));
    }
    Ok((from, to))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsQuery {
    function: Option<String>,
    run: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/v1/actions`: recorded actions, newest first, optionally of one function or touching one run.
pub async fn list(q: web::Query<ActionsQuery>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    let filter = ActionFilter {
        function_id: q.function.clone(),
        run_id: q.run.clone(),
        limit,
    };
    let actions = audit::list(&state.db, &filter).await?;
    Ok(HttpResponse::Ok().json(json!({ "actions": actions })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_milliseconds_or_rfc3339() {
        let t: TimeArg = serde_json::from_str("1700000000000").unwrap();
        assert_eq!(t.ms("from").unwrap(), 1_700_000_000_000);
        let t: TimeArg = serde_json::from_str("\"2023-11-14T22:13:20.000Z\"").unwrap();
        assert_eq!(t.ms("from").unwrap(), 1_700_000_000_000);
        let t: TimeArg = serde_json::from_str("\"last week\"").unwrap();
        assert!(
            t.ms("from")
                .unwrap_err()
                .to_string()
                .contains("from: \"last week\" is not a time")
        );
        let (a, b) = (Some(TimeArg::Ms(5)), Some(TimeArg::Ms(4)));
        assert!(range(&a, &b).is_err());
        assert_eq!(range(&b, &a).unwrap(), (Some(4), Some(5)));
    }

    #[test]
    fn an_empty_body_is_an_empty_object() {
        let v: serde_json::Value = body(b"  ").unwrap();
        assert_eq!(v, json!({}));
        assert!(body::<serde_json::Value>(b"{nope").is_err());
    }
}
