//! `mux-video-asset-error` — Mux could not process an asset: mark its video errored and tell the editor
//! (reference §4 `mux-video-asset-error`).
//!
//! Trigger: `mux/web-hook-event` when `event.data.muxWebhookEvent.type == "video.asset.errored"`. Steps:
//! 1. "Load Video Resource" by the asset's `passthrough` — missing → non-retriable (as the original's error, which
//!    could never succeed on retry).
//! 2. "update the video resource in database as errored" (`fields.state = "errored"`).
//! 3. "announce asset errored" — PartyKit, room = the video id, `{body: "Mux Asset Errored: <asset id>", requestId:
//!    <video id>, name: "video.asset.errored"}`.
//!
//! Returns the Mux event's `data`.

use super::{Deps, MUX_WEBHOOK, announce};
use crate::integrations::partykit::Message;
use crate::platform::content::ContentResource;
use ingot_actors::{FnError, FunctionDef, StepError, Trigger};
use serde_json::{Value, json};

pub const ID: &str = "mux-video-asset-error";

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Mux Video Asset Errored", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event_if(
            MUX_WEBHOOK,
            r#"event.data.muxWebhookEvent.type == "video.asset.errored""#,
        ))
        .summary("Marks a video resource errored when Mux reports its asset errored, and announces it.")
        .services(&["partykit"])
        .emits(&[])
}

async fn run(deps: Deps, ctx: ingot_actors::RunCtx) -> Result<Value, FnError> {
    let asset = ctx.event["data"]["muxWebhookEvent"]["data"].clone();
    let passthrough = asset["passthrough"].as_str().unwrap_or_default().to_string();
    let video: ContentResource = ctx
        .step
        .run("Load Video Resource", || async {
            super::load_video(&deps, &passthrough)
                .await?
                .ok_or_else(|| StepError::fatal(format!("video resource not found: {passthrough:?}")))
        })
        .await?;
    let _: ContentResource = ctx
        .step
        .run("update the video resource in database as errored", || {
            super::mux_video_asset_ready::set_state(&deps, &video.id, "errored")
        })
        .await?;
    let asset_id = asset["id"].as_str().unwrap_or_default();
    announce(
        &ctx.step,
        &deps,
        "announce asset errored",
        &video.id,
        Message::new(
            "video.asset.errored",
            &passthrough,
            json!(format!("Mux Asset Errored: {asset_id}")),
        ),
    )
    .await?;
    Ok(asset)
}
