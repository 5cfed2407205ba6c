//! `video-uploaded` — a video was uploaded (UploadThing or the upload API): create its Mux asset and its
//! `videoResource`, attach it to its lesson or post, and start the transcript (reference §4 `video-uploaded`).
//!
//! Trigger: `video/video-uploaded` `{originalMediaUrl, fileName, title?, parentResourceId?, resourceId?, fileKey?,
//! moduleSlug?}` with `event.user.id` (required: without it the run fails non-retriably). Steps:
//! 1. "create the mux asset" — `POST /video/v1/assets` (public playback, standard MP4, passthrough = the video id).
//! 2. "create the video resource in database" — needs a public playback id (else non-retriable); creates the
//!    `videoResource` `{state: processing, originalMediaUrl, muxAssetId, muxPlaybackId, title}` created by the user
//!    (kept if it exists: a retried step creates nothing twice).
//! 3. "get the video resource from database" (missing → non-retriable).
//! 4. With `parentResourceId`: "get parent resource" (a missing parent skips the attachment), one "detach existing
//!    video resource" step per other live video child (one video per lesson), then "attach video to parent
//!    resource" at the end of its children.
//! 5. "announce video resource created" — PartyKit, room = the video id, `videoResource.created`.
//! 6. sendEvent "announce new video resource" → `video-resource/created` `{videoResourceId, originalMediaUrl,
//!    moduleSlug}` with the user.
//! 7. With `fileKey`: sendEvent "remove video from uploadthing when done" → `video/status-check` `{videoResourceId,
//!    fileKey}`.
//!
//! Returns `{data, videoResource, muxAsset}`. Decision: the video's id is `resourceId` when given, else
//! `fileName`, and the Mux passthrough is the same id; the original used `fileName` as the id but `resourceId ||
//! fileName` as the passthrough, so `mux-video-asset-ready` could not find a video uploaded with a `resourceId`.

use super::{
    Deps, VIDEO_RESOURCE, VIDEO_RESOURCE_CREATED, VIDEO_STATUS_CHECK, VIDEO_UPLOADED, announce, data_str, db_err,
};
use crate::integrations::mux::Asset;
use crate::integrations::partykit::Message;
use crate::platform::content::{self, ContentResource, NewContentResource};
use crate::platform::video;
use ingot_actors::{FnError, FunctionDef, SendEvent, StepError, Trigger};
use serde_json::{Value, json};

pub const ID: &str = "video-uploaded";

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Video Uploaded", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event(VIDEO_UPLOADED))
        .summary("An uploaded video becomes a Mux asset and a videoResource attached to its lesson; orders its transcript and the upload's later deletion.")
        .services(&["mux", "partykit"])
        .emits(&[VIDEO_RESOURCE_CREATED, VIDEO_STATUS_CHECK])
}

async fn run(deps: Deps, ctx: ingot_actors::RunCtx) -> Result<Value, FnError> {
    let event = &ctx.event;
    let data = event["data"].clone();
    let user_id = event["user"]["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FnError::NonRetriable("video/video-uploaded needs event.user.id".into()))?
        .to_string();
    let media_url = data_str(event, "originalMediaUrl");
    let file_name = data_str(event, "fileName");
    let video_id = Some(data_str(event, "resourceId"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| file_name.clone());
    if media_url.is_empty() || video_id.is_empty() {
        return Err(FnError::NonRetriable(
            "video/video-uploaded needs originalMediaUrl and fileName".into(),
        ));
    }
    let mux = deps.integrations.mux.clone();
    let asset: Asset = ctx
        .step
        .run("create the mux asset", || async {
            Ok(mux.create_video_asset(&media_url, &video_id).await?)
        })
        .await?;
    let _created: ContentResource = ctx
        .step
        .run("create the video resource in database", || async {
            let playback = asset
                .playback_ids
                .iter()
                .find(|p| p.policy == "public")
                .ok_or_else(|| StepError::fatal(format!("Mux asset {:?} has no public playback id", asset.id)))?;
            let title = data["title"].as_str().unwrap_or(&file_name);
            content::ensure_content_resource(
                &deps.db,
                &NewContentResource {
                    id: &video_id,
                    kind: VIDEO_RESOURCE,
                    fields: json!({"state": "processing", "originalMediaUrl": media_url, "muxAssetId": asset.id,
                                   "muxPlaybackId": playback.id, "title": title}),
                    created_by_id: Some(&user_id),
                },
            )
            .await
            .map_err(db_err)
        })
        .await?;
    let video: ContentResource = ctx
        .step
        .run("get the video resource from database", || async {
            super::load_video(&deps, &video_id)
                .await?
                .ok_or_else(|| StepError::fatal(format!("video resource {video_id:?} was not created")))
        })
        .await?;

    let mut attached_to = Value::Null;
    if let Some(parent_id) = data["parentResourceId"].as_str().filter(|s| !s.is_empty()) {
        let parent: Option<Value> = ctx
            .step
            .run("get parent resource", || async {
                let Some(parent) = content::get_content_resource(&deps.db, parent_id)
                    .await
                    .map_err(db_err)?
                else {
                    return Ok(None);
                };
                let children = content::get_children(&deps.db, &parent.id).await.map_err(db_err)?;
                let videos: Vec<&str> = children
                    .iter()
                    .filter(|c| c.resource.kind == VIDEO_RESOURCE && c.resource.id != video_id)
                    .map(|c| c.resource.id.as_str())
                    .collect();
                Ok(Some(
                    json!({"id": parent.id, "videoChildren": videos, "children": children.len()}),
                ))
            })
            .await?;
        if let Some(parent) = parent {
            let parent_id = parent["id"].as_str().unwrap_or_default().to_string();
            let others: Vec<String> = serde_json::from_value(parent["videoChildren"].clone()).unwrap_or_default();
            for other in &others {
                ctx.step
                    .run("detach existing video resource", || async {
                        video::detach_child(&deps.db, &parent_id, other).await.map_err(db_err)
                    })
                    .await?;
            }
            let position = parent["children"]
                .as_u64()
                .unwrap_or(0)
                .saturating_sub(others.len() as u64) as f64;
            ctx.step
                .run("attach video to parent resource", || async {
                    video::attach_child(&deps.db, &parent_id, &video_id, position)
                        .await
                        .map_err(db_err)
                })
                .await?;
            attached_to = json!(parent_id);
        }
    }

    announce(
        &ctx.step,
        &deps,
        "announce video resource created",
        &video.id,
        Message::new(
            "videoResource.created",
            &video_id,
            serde_json::to_value(&video).unwrap_or_default(),
        ),
    )
    .await?;
    let user = event["user"].clone();
    let mut created = SendEvent::new(
        VIDEO_RESOURCE_CREATED,
        json!({"moduleSlug": data["moduleSlug"], "originalMediaUrl": media_url, "videoResourceId": video.id}),
    );
    created.user = user;
    ctx.step
        .send_event("announce new video resource", vec![created])
        .await?;
    if let Some(file_key) = data["fileKey"].as_str().filter(|s| !s.is_empty()) {
        ctx.step
            .send_event(
                "remove video from uploadthing when done",
                vec![SendEvent::new(
                    VIDEO_STATUS_CHECK,
                    json!({"fileKey": file_key, "videoResourceId": video.id}),
                )],
            )
            .await?;
    }
    Ok(json!({"data": data, "videoResource": video, "muxAsset": asset, "attachedTo": attached_to}))
}
