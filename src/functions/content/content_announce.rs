//! PartyKit announcements of the content and AI functions (`video-resource-attached`, `-detached`,
//! `image-resource-created`, `perform-code-extraction`, `resource-chat`): one step per announcement.
//!
//! Without `NEXT_PUBLIC_PARTY_KIT_URL` (and outside a dry run) the step completes with `{delivered: false,
//! reason}`: the editor is simply not told, as the original did nothing useful without PartyKit either. A
//! retryable failure (429, 5xx, timeout) retries the step; a rejection (4xx) fails it, since for these
//! functions the announcement is the work.

use crate::functions::Deps;
use crate::integrations::partykit::Message;
use ingot_actors::{FnError, Step};
use serde_json::{Value, json};

/// Posts `message` to `room` (or the site-wide room when `room` is `None`) in a step named `name`.
pub async fn announce(
    step: &Step,
    deps: &Deps,
    name: &str,
    room: Option<&str>,
    message: Message,
) -> Result<Value, FnError> {
    let pk = deps.integrations.partykit.clone();
    let room = room.map(str::to_string);
    step.run(name, || async move {
        if !pk.enabled() {
            return Ok(json!({"delivered": false, "reason": "PartyKit is not configured"}));
        }
        let answer = match &room {
            Some(r) => pk.broadcast(r, &message).await?,
            None => pk.broadcast_default(&message).await?,
        };
        Ok(json!({"delivered": true, "answer": answer}))
    })
    .await
}

/// A string field of the trigger event's data (the first present of `keys`), or "".
pub fn data_str(event: &Value, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| event["data"][*k].as_str())
        .unwrap_or_default()
        .to_string()
}
