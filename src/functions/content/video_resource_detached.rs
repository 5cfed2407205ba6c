//! `video-resource-detached` — a video was detached from a post: tell the post's editors (reference §3.11).
//!
//! Triggers `video/detached` `{resourceId, videoResourceId}` and the original `video.asset.detached`
//! `{postId, videoResourceId}`. One step, "announce video asset detached": PartyKit message `{body: event.data,
//! requestId: videoResourceId, name: "video.asset.detached"}` to the room `postId` (else `resourceId`). Same rules
//! as [`video_resource_attached`](crate::functions::content::video_resource_attached). Returns the video resource id.

use crate::functions::{Deps, event_triggers};
use ingot_actors::FunctionDef;

pub const ID: &str = "video-resource-detached";
pub const EVENT: &str = "video/detached";

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Video Resource Detached", move |ctx| {
        crate::functions::content::video_resource_attached::run(
            deps.clone(),
            ctx,
            "announce video asset detached",
            "video.asset.detached",
        )
    });
    for t in event_triggers(EVENT, None) {
        def = def.trigger(t);
    }
    def.summary("Announces on PartyKit, in the post's room, that a video was detached from it.")
        .services(&["partykit"])
        .emits(&[])
}
