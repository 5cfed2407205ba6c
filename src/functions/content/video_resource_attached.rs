//! `video-resource-attached` — a video was attached to a post: tell the post's editors (reference §3.11).
//!
//! Triggers `video/attached` `{resourceId, videoResourceId}` and the original `video.asset.attached`
//! `{postId, videoResourceId}`; the room is `postId`, else `resourceId` (neither, or no `videoResourceId`:
//! non-retriable — there is no room to tell). One step, "announce video asset attached": PartyKit message
//! `{body: event.data, requestId: videoResourceId, name: "video.asset.attached"}` to the post's room (see
//! [`crate::functions::content::content_announce`] for PartyKit being unset or failing). The join row itself is written by the caller
//! before the event. Returns the video resource id. [`video_resource_detached`](crate::functions::content::video_resource_detached)
//! is the same for `video/detached`.

use crate::functions::content::content_announce::{announce, data_str};
use crate::functions::{Deps, event_triggers};
use crate::integrations::partykit::Message;
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde_json::{Value, json};

pub const ID: &str = "video-resource-attached";
pub const EVENT: &str = "video/attached";

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Video Resource Attached", move |ctx| {
        run(
            deps.clone(),
            ctx,
            "announce video asset attached",
            "video.asset.attached",
        )
    });
    for t in event_triggers(EVENT, None) {
        def = def.trigger(t);
    }
    def.summary("Announces on PartyKit, in the post's room, that a video was attached to it.")
        .services(&["partykit"])
        .emits(&[])
}

/// The run of both functions: one announcement named `name` to the post's room.
pub(super) async fn run(deps: Deps, ctx: RunCtx, step: &str, name: &str) -> Result<Value, FnError> {
    let room = data_str(&ctx.event, &["postId", "resourceId"]);
    let video = data_str(&ctx.event, &["videoResourceId"]);
    if room.is_empty() || video.is_empty() {
        return Err(StepError::fatal("the event names no post (postId/resourceId) or no videoResourceId").into());
    }
    let message = Message::new(name, &video, ctx.event["data"].clone());
    announce(&ctx.step, &deps, step, Some(&room), message).await?;
    Ok(json!(video))
}
