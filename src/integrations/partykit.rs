//! PartyKit: realtime announcements to the editor (reference §8.10). One call: `POST <NEXT_PUBLIC_PARTY_KIT_URL>/party/<room>`
//! with a JSON message `{body, requestId, name, …}`; the server broadcasts it to the room's websocket clients and
//! answers with text, which is returned.
//!
//! - The room is a path segment, percent-encoded (resource ids are ours, but a slug may hold anything).
//! - [`PartyKit::broadcast_default`] uses `NEXT_PUBLIC_PARTYKIT_ROOM_NAME`, the room the original announces
//!   site-wide events in (image uploads).
//! - PartyKit has no credential: `NEXT_PUBLIC_PARTY_KIT_URL` is both the setting that makes the service configured and
//!   its base URL (tests point it at a fake). Each room is its own rate-limit route, so a 429 for one room does not
//!   hold back the others.

use super::config::IntegrationsConfig;
use super::http::{HttpService, Request};
use super::require;
use ingot_actors::service::ServiceError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A message as the original sends it: `{body, requestId, name}` plus optional extra fields (`userId`, `metadata`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub body: Value,
    pub request_id: String,
    pub name: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    pub fn new(name: &str, request_id: &str, body: Value) -> Message {
        Message {
            body,
            request_id: request_id.to_string(),
            name: name.to_string(),
            extra: Map::new(),
        }
    }

    /// Adds a top-level field (e.g. `userId`, `metadata`).
    pub fn with(mut self, key: &str, value: Value) -> Message {
        self.extra.insert(key.to_string(), value);
        self
    }
}

#[derive(Clone)]
pub struct PartyKit {
    pub http: HttpService,
    configured: bool,
    room_name: Option<String>,
    dry_run: bool,
}

impl PartyKit {
    pub fn new(http: HttpService, cfg: &IntegrationsConfig) -> PartyKit {
        PartyKit {
            http,
            configured: cfg.partykit_url.is_some(),
            room_name: cfg.partykit_room_name.clone(),
            dry_run: cfg.dry_run,
        }
    }

    /// Whether announcements can go out (configured, or a dry run that records them).
    pub fn enabled(&self) -> bool {
        self.configured || self.dry_run
    }

    /// The site-wide room (`NEXT_PUBLIC_PARTYKIT_ROOM_NAME`).
    pub fn default_room(&self) -> Option<&str> {
        self.room_name.as_deref()
    }

    /// Posts `message` to `room`; PartyKit's answer text.
    pub async fn broadcast(&self, room: &str, message: &Message) -> Result<String, ServiceError> {
        require(
            "partykit",
            self.dry_run,
            &[("NEXT_PUBLIC_PARTY_KIT_URL", self.configured)],
        )?;
        if room.is_empty() {
            return Err(ServiceError::Invalid {
                service: "partykit".into(),
                message: "empty room id".into(),
            });
        }
        let mut url = reqwest::Url::parse(&self.http.url("")).map_err(|e| ServiceError::Invalid {
            service: "partykit".into(),
            message: format!("bad base URL: {e}"),
        })?;
        url.path_segments_mut()
            .map_err(|()| ServiceError::Invalid {
                service: "partykit".into(),
                message: "base URL cannot take a path".into(),
            })?
            .pop_if_empty()
            .extend(["party", room]);
        let body = serde_json::to_value(message).map_err(|e| ServiceError::Invalid {
            service: "partykit".into(),
            message: format!("message is not JSON: {e}"),
        })?;
        let req = Request::post(url.to_string()).json(body).route(format!("party/{room}"));
        let answer = self.http.send(req).await?;
        Ok(String::from_utf8_lossy(&answer.body).into_owned())
    }

    /// Posts to the site-wide room; fails (not configured) without `NEXT_PUBLIC_PARTYKIT_ROOM_NAME`.
    pub async fn broadcast_default(&self, message: &Message) -> Result<String, ServiceError> {
        require(
            "partykit",
            false,
            &[("NEXT_PUBLIC_PARTYKIT_ROOM_NAME", self.room_name.is_some())],
        )?;
        let room = self.room_name.clone().unwrap_or_default();
        self.broadcast(&room, message).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn message_shape_is_the_originals() {
        let m = Message::new("resource.chat.prompted", "r1", json!("hi")).with("userId", json!("u1"));
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"body": "hi", "requestId": "r1", "name": "resource.chat.prompted", "userId": "u1"})
        );
    }
}
