//! `mux-video-asset-ready` — Mux finished processing an asset: mark its video ready and tell the editor
//! (reference §4 `mux-video-asset-ready`).
//!
//! Trigger: `mux/web-hook-event` when `event.data.muxWebhookEvent.type == "video.asset.ready"` (stored by `POST
//! /webhooks/mux`, deduplicated by Mux's event id). The asset's `passthrough` is the video resource id. Steps:
//! 1. "Load Video Resource" by the passthrough (`null` when there is none: an asset made elsewhere).
//! 2. Found: "update the video resource in database" (`fields.state = "ready"`) and "announce asset ready" —
//!    PartyKit, room = the video id, `{body: <playback id>, requestId: <video id>, name: "video.asset.ready"}`.
//!
//! Returns the Mux event's `data` (the asset). Decision: an asset without a video resource is not announced
//! (there is no editor room for it).

use super::{Deps, MUX_WEBHOOK, announce, db_err};
use crate::integrations::partykit::Message;
use crate::platform::content::{ContentResource, merge_resource_fields};
use ingot_actors::{FnError, FunctionDef, Trigger};
use serde_json::{Map, Value, json};

pub const ID: &str = "mux-video-asset-ready";

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Mux Video Asset Ready", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event_if(
            MUX_WEBHOOK,
            r#"event.data.muxWebhookEvent.type == "video.asset.ready""#,
        ))
        .summary("Marks a video resource ready when Mux reports its asset ready, and announces it.")
        .services(&["partykit"])
        .emits(&[])
}

/// Sets a video's `fields.state`; `None` when the video does not exist.
pub(super) async fn set_state(deps: &Deps, id: &str, state: &str) -> Result<ContentResource, ingot_actors::StepError> {
    let mut patch = Map::new();
    patch.insert("state".into(), json!(state));
    merge_resource_fields(&deps.db, id, &patch).await.map_err(db_err)
}

async fn run(deps: Deps, ctx: ingot_actors::RunCtx) -> Result<Value, FnError> {
    let asset = ctx.event["data"]["muxWebhookEvent"]["data"].clone();
    let passthrough = asset["passthrough"].as_str().unwrap_or_default().to_string();
    let video: Option<ContentResource> = ctx
        .step
        .run("Load Video Resource", || async {
            if passthrough.is_empty() {
                return Ok(None);
            }
            super::load_video(&deps, &passthrough).await
        })
        .await?;
    if let Some(video) = video {
        let _: ContentResource = ctx
            .step
            .run("update the video resource in database", || {
                set_state(&deps, &video.id, "ready")
            })
            .await?;
        let playback = asset["playback_ids"][0]["id"]
            .as_str()
            .map(Value::from)
            .unwrap_or_else(|| video.fields["muxPlaybackId"].clone());
        announce(
            &ctx.step,
            &deps,
            "announce asset ready",
            &video.id,
            Message::new("video.asset.ready", &passthrough, playback),
        )
        .await?;
    }
    Ok(asset)
}
