//! `add-srt-mux-asset` — put a video's subtitles on its Mux asset once the asset is ready (reference §4
//! `add-srt-mux-asset`).
//!
//! Trigger: `video/srt-ready` `{videoResourceId, coolDowns?}`. Steps:
//! 1. "get the video resource from database" → its `fields.muxAssetId`; no video or no asset id → returns
//!    `{skipped: true}` (the original returned undefined).
//! 2. "get the mux asset" — `GET /video/v1/assets/{id}`; a 4xx (no such asset) is non-retriable.
//! 3. Asset `ready`: "delete existing srt track from mux asset" (the first `text` track, `DELETE
//!    /video/v1/assets/{id}/tracks/{track}`; `null` when there is none), "add srt track to mux asset" (`POST
//!    /video/v1/assets/{id}/tracks` `{url: <NEXT_PUBLIC_URL>/api/coursebuilder/srt/internal?videoResourceId=<id>,
//!    type: text, text_type: subtitles, closed_captions: true, language_code: en-US, name: English, passthrough:
//!    English}`), "get the updated mux asset" → returns `{muxAsset}`.
//! 4. Asset `errored`: the run fails non-retriably (the original threw a plain error and retried an asset that
//!    cannot recover).
//! 5. Otherwise (preparing): sleep "wait for 20 seconds", then sendEvent "Re-run After Cool Down" →
//!    `video/srt-ready` with the same data and `coolDowns + 1`; returns `{status: "asset not ready yet"}`.
//!
//! Decision: the cool-down loop stops after [`MAX_COOL_DOWNS`] rounds (30 minutes) with a non-retriable error;
//! the original looped for as long as Mux said "preparing". The subtitles URL is the web app's SRT route, as in
//! the original (it serves `fields.srt`).

use super::{Deps, SRT_READY, data_str};
use crate::integrations::mux::Asset;
use ingot_actors::{FnError, FunctionDef, SendEvent, StepError, Trigger};
use serde_json::{Value, json};
use std::time::Duration;

pub const ID: &str = "add-srt-mux-asset";
/// How long to wait for a preparing asset before asking again.
pub const COOL_DOWN: Duration = Duration::from_secs(20);
/// Cool-down rounds before giving up (90 × 20 s = 30 min).
pub const MAX_COOL_DOWNS: u64 = 90;

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Add SRT to Mux Asset", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event(SRT_READY))
        .summary("Replaces the subtitles track of a video's Mux asset once the asset is ready, re-checking every 20 s while it prepares.")
        .services(&["mux"])
        .emits(&[SRT_READY])
}

/// The first text track of an asset, from Mux's `tracks` list.
fn text_track(asset: &Asset) -> Option<String> {
    asset.rest.get("tracks")?.as_array()?.iter().find_map(|t| {
        (t["type"] == "text")
            .then(|| t["id"].as_str().map(str::to_string))
            .flatten()
    })
}

async fn run(deps: Deps, ctx: ingot_actors::RunCtx) -> Result<Value, FnError> {
    let video_id = data_str(&ctx.event, "videoResourceId");
    let cool_downs = ctx.event["data"]["coolDowns"].as_u64().unwrap_or(0);
    let asset_id: Option<String> = ctx
        .step
        .run("get the video resource from database", || async {
            Ok(super::load_video(&deps, &video_id)
                .await?
                .and_then(|v| v.fields["muxAssetId"].as_str().map(str::to_string))
                .filter(|s| !s.is_empty()))
        })
        .await?;
    let Some(asset_id) = asset_id else {
        return Ok(
            json!({"skipped": true, "reason": "no video resource with a Mux asset", "videoResourceId": video_id}),
        );
    };
    let mux = deps.integrations.mux.clone();
    let asset: Asset = ctx
        .step
        .run("get the mux asset", || async { Ok(mux.get_asset(&asset_id).await?) })
        .await?;
    match asset.status.as_str() {
        "ready" => {
            let _deleted: Option<String> = ctx
                .step
                .run("delete existing srt track from mux asset", || async {
                    match text_track(&asset) {
                        Some(track) => {
                            mux.delete_track(&asset_id, &track).await?;
                            Ok(Some(track))
                        }
                        None => Ok(None),
                    }
                })
                .await?;
            let icfg = &deps.config.integrations;
            let url = format!(
                "{}/api/coursebuilder/srt/internal?videoResourceId={}",
                icfg.public_url.as_deref().unwrap_or("http://dry-run.invalid"),
                urlencode(&video_id)
            );
            let _track: Value = ctx
                .step
                .run("add srt track to mux asset", || async {
                    if icfg.public_url.is_none() && !icfg.dry_run {
                        return Err(StepError::fatal(
                            "NEXT_PUBLIC_URL is not set: Mux cannot fetch the subtitles",
                        ));
                    }
                    Ok(serde_json::to_value(mux.add_srt_track(&asset_id, &url).await?).unwrap_or_default())
                })
                .await?;
            let updated: Asset = ctx
                .step
                .run("get the updated mux asset", || async {
                    Ok(mux.get_asset(&asset_id).await?)
                })
                .await?;
            Ok(json!({"muxAsset": updated}))
        }
        "errored" => Err(FnError::NonRetriable(format!(
            "Mux asset {asset_id} errored: no subtitles added"
        ))),
        status => {
            if cool_downs >= MAX_COOL_DOWNS {
                return Err(FnError::NonRetriable(format!(
                    "Mux asset {asset_id} still {status:?} after {cool_downs} cool-downs"
                )));
            }
            ctx.step.sleep("wait for 20 seconds", COOL_DOWN).await?;
            let mut data = ctx.event["data"].clone();
            data["coolDowns"] = json!(cool_downs + 1);
            ctx.step
                .send_event("Re-run After Cool Down", vec![SendEvent::new(SRT_READY, data)])
                .await?;
            Ok(json!({"status": "asset not ready yet", "assetStatus": status, "coolDowns": cool_downs + 1}))
        }
    }
}

/// Percent-encodes a query value.
fn urlencode(v: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", [("v", v)])
        .map(|u| u.query().unwrap_or_default().trim_start_matches("v=").to_string())
        .unwrap_or_default()
}
