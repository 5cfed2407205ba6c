//! Google Calendar, on the primary calendar of the impersonated Workspace user.
//!
//! Auth: an RS256 JWT signed with the service account's key (`iss` = client email, `sub` = the impersonated user,
//! scope `calendar.events`, `aud` = the token URL, one hour) is exchanged at `GOOGLE_OAUTH_TOKEN_URL` for an access
//! token, cached until a minute before it expires. Attendee changes PATCH only `attendees`, never duplicate an
//! email (compared case-insensitively; adding someone also drops repeated entries already on the list), and send
//! no notifications.

use super::config::{IntegrationsConfig, ServiceAccount};
use super::http::{HttpService, Request, Val};
use super::require;
use crate::config::Secret;
use base64::Engine;
use ingot_actors::service::ServiceError;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub const SCOPE: &str = "https://www.googleapis.com/auth/calendar.events";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attendee {
    pub email: String,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A calendar event; fields we do not use are kept as they came.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CalendarEvent {
    pub id: String,
    pub attendees: Vec<Attendee>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl CalendarEvent {
    pub fn has_attendee(&self, email: &str) -> bool {
        self.attendees
            .iter()
            .any(|a| a.email.trim().eq_ignore_ascii_case(email.trim()))
    }
}

/// What [`GoogleCalendar::ensure_attendee`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct AttendeeOutcome {
    /// The event as Google answered the PATCH (or the GET, when nothing changed).
    pub event: CalendarEvent,
    /// The email was not on the list and now is.
    pub added: bool,
    /// Entries dropped because their email was already on the list.
    pub duplicates_removed: usize,
}

/// The attendees without repeated emails (case-insensitive, trimmed), first entries kept, order kept.
pub fn unique_attendees(attendees: &[Attendee]) -> Vec<Attendee> {
    let mut seen = std::collections::HashSet::new();
    attendees
        .iter()
        .filter(|a| seen.insert(a.email.trim().to_ascii_lowercase()))
        .cloned()
        .collect()
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: u64,
}

#[derive(Clone)]
pub struct GoogleCalendar {
    pub http: HttpService,
    account: Option<ServiceAccount>,
    subject: Option<String>,
    token_url: String,
    dry_run: bool,
    token: Arc<Mutex<Option<(String, Instant)>>>,
}

impl GoogleCalendar {
    pub fn new(http: HttpService, cfg: &IntegrationsConfig) -> GoogleCalendar {
        GoogleCalendar {
            http,
            account: cfg.google_account.clone(),
            subject: cfg.google_impersonate.clone(),
            token_url: cfg.google_token_url.clone(),
            dry_run: cfg.dry_run,
            token: Arc::new(Mutex::new(None)),
        }
    }

    /// Whether the service account and the impersonated user are set (or this is a dry run).
    pub fn configured(&self) -> bool {
        self.dry_run || (self.account.is_some() && self.subject.is_some())
    }

    /// The impersonated Workspace user (`GOOG_CALENDAR_IMPERSONATE_USER`): the organizer of created events.
    pub fn impersonated_user(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// A bearer token for the impersonated user, from the cache or a fresh JWT exchange.
    async fn bearer(&self) -> Result<String, ServiceError> {
        require(
            "google_calendar",
            self.dry_run,
            &[
                ("GOOG_CREDENTIALS_JSON", self.account.is_some()),
                ("GOOG_CALENDAR_IMPERSONATE_USER", self.subject.is_some()),
            ],
        )?;
        let (Some(account), Some(subject)) = (&self.account, &self.subject) else {
            return Ok("Bearer dry-run".into());
        };
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && *until > Instant::now()
        {
            return Ok(format!("Bearer {token}"));
        }
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": account.client_email, "sub": subject, "scope": SCOPE, "aud": self.token_url,
            "iat": now, "exp": now + 3600,
        });
        let invalid = |message: String| ServiceError::Invalid {
            service: "google_calendar".into(),
            message,
        };
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.expose().as_bytes())
            .map_err(|_| invalid("the service account's private_key is not an RSA key".into()))?;
        let assertion = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &key,
        )
        .map_err(|e| invalid(format!("cannot sign the token request: {e}")))?;
        let req = Request::post(self.token_url.clone()).form(vec![
            (
                "grant_type".into(),
                Val::Plain("urn:ietf:params:oauth:grant-type:jwt-bearer".into()),
            ),
            ("assertion".into(), Val::Secret(crate::config::Secret::new(assertion))),
        ]);
        let answer: TokenAnswer = self.http.json(req).await?;
        if answer.access_token.is_empty() {
            if self.dry_run {
                return Ok("Bearer dry-run".into());
            }
            return Err(ServiceError::BadResponse {
                service: "google_calendar".into(),
                message: "the token endpoint returned no access_token".into(),
            });
        }
        let lifetime = Duration::from_secs(answer.expires_in.max(60)).saturating_sub(Duration::from_secs(60));
        *cached = Some((answer.access_token.clone(), Instant::now() + lifetime));
        Ok(format!("Bearer {}", answer.access_token))
    }

    async fn request(&self, method: Method, path: &str) -> Result<Request, ServiceError> {
        Ok(Request::new(method, format!("calendars/primary/events{path}"))
            .secret_header("authorization", self.bearer().await?))
    }

    /// The event, or `None` if it does not exist (404, 410 deleted).
    pub async fn get_event(&self, event_id: &str) -> Result<Option<CalendarEvent>, ServiceError> {
        let req = self.request(Method::GET, &format!("/{event_id}")).await?;
        not_found_is_none(self.http.json(req).await)
    }

    /// Creates an event from the API's event resource (`summary`, `start`, `end`, `description`, ...).
    pub async fn insert_event(&self, event: Value) -> Result<CalendarEvent, ServiceError> {
        let req = self
            .request(Method::POST, "")
            .await?
            .query("sendUpdates", "none")
            .json(event);
        self.http.json(req).await
    }

    /// Patches the given fields; `None` if the event does not exist.
    pub async fn patch_event(&self, event_id: &str, patch: Value) -> Result<Option<CalendarEvent>, ServiceError> {
        let req = self
            .request(Method::PATCH, &format!("/{event_id}"))
            .await?
            .query("sendUpdates", "none")
            .json(patch);
        not_found_is_none(self.http.json(req).await)
    }

    /// Adds the attendee unless already there; `None` if the event does not exist.
    pub async fn add_attendee(&self, event_id: &str, email: &str) -> Result<Option<CalendarEvent>, ServiceError> {
        Ok(self.ensure_attendee(event_id, email).await?.map(|o| o.event))
    }

    /// Puts `email` on the event's attendee list exactly once: one GET, then a PATCH of `attendees` only if
    /// something changes — the email was missing, or the list held an email twice (compared case-insensitively
    /// and trimmed; the first entry is kept, with its response status). `None` if the event does not exist.
    pub async fn ensure_attendee(&self, event_id: &str, email: &str) -> Result<Option<AttendeeOutcome>, ServiceError> {
        let Some(event) = self.get_event(event_id).await? else {
            return Ok(None);
        };
        let mut attendees = unique_attendees(&event.attendees);
        let duplicates_removed = event.attendees.len() - attendees.len();
        let added = !event.has_attendee(email);
        if added {
            attendees.push(Attendee {
                email: email.trim().to_string(),
                rest: Map::new(),
            });
        }
        if !added && duplicates_removed == 0 {
            return Ok(Some(AttendeeOutcome {
                event,
                added,
                duplicates_removed,
            }));
        }
        Ok(self
            .patch_event(event_id, json!({ "attendees": attendees }))
            .await?
            .map(|event| AttendeeOutcome {
                event,
                added,
                duplicates_removed,
            }))
    }

    /// Removes every attendee with this email; `None` if the event does not exist.
    pub async fn remove_attendee(&self, event_id: &str, email: &str) -> Result<Option<CalendarEvent>, ServiceError> {
        let Some(event) = self.get_event(event_id).await? else {
            return Ok(None);
        };
        if !event.has_attendee(email) {
            return Ok(Some(event));
        }
        let attendees: Vec<&Attendee> = event
            .attendees
            .iter()
            .filter(|a| !a.email.trim().eq_ignore_ascii_case(email.trim()))
            .collect();
        self.patch_event(event_id, json!({ "attendees": attendees })).await
    }
}

/// `GOOG_CREDENTIALS_JSON`: the JSON itself or base64 of it, with `client_email` and an RSA `private_key`.
pub fn parse_service_account(v: &str) -> Result<ServiceAccount, String> {
    let text = if v.trim_start().starts_with('{') {
        v.to_string()
    } else {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v.trim())
            .map_err(|_| "neither JSON nor base64 of JSON".to_string())?;
        String::from_utf8(bytes).map_err(|_| "base64 of something that is not text".to_string())?
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|_| "not valid JSON".to_string())?;
    let field = |name: &str| {
        json.get(name)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("the service account has no {name}"))
    };
    let client_email = field("client_email")?;
    let private_key = field("private_key")?;
    jsonwebtoken::EncodingKey::from_rsa_pem(private_key.as_bytes())
        .map_err(|_| "private_key is not an RSA key in PEM".to_string())?;
    Ok(ServiceAccount {
        client_email,
        private_key: Secret::new(private_key),
    })
}

fn not_found_is_none<T>(r: Result<T, ServiceError>) -> Result<Option<T>, ServiceError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if matches!(e.status(), Some(404 | 410)) => Ok(None),
        Err(e) => Err(e),
    }
}
