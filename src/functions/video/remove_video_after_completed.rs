//! `remove-video-after-completed` — delete the uploaded file from UploadThing once Mux has its own copy (reference
//! §4 `remove-video-after-completed`).
//!
//! Trigger: `video/status-check` `{videoResourceId, fileKey, retryCount?}`; retries 3. Steps:
//! 1. "Load Video Resource" — database errors retry; missing → non-retriable.
//! 2. State `ready` or `errored`: sleep "wait a few just to be sure" (30 minutes), then "delete file from
//!    uploadthing" (`POST /v6/deleteFiles {fileKeys: [fileKey]}`); returns `{videoResource, deleted}`.
//! 3. Otherwise: after [`MAX_CHECKS`] checks (`retryCount` 0 … 29), or when the video is older than 30 days, the
//!    run fails non-retriably ("timed out"); else sleep "wait a day" (24 hours) and sendEvent "check video status
//!    daily" → `video/status-check` with `retryCount + 1`; returns `{videoResource, retryCount}`.
//!
//! Sleeps are durable (stored deadlines): a restart during the 30 minutes or the day loses nothing.

use super::{Deps, VIDEO_STATUS_CHECK, data_str};
use crate::integrations::uploadthing::Deleted;
use crate::platform::content::ContentResource;
use ingot_actors::{FnError, FunctionDef, SendEvent, StepError, Trigger};
use serde_json::{Value, json};
use std::time::Duration;

pub const ID: &str = "remove-video-after-completed";
/// The wait between the video being done and deleting its upload.
pub const GRACE: Duration = Duration::from_secs(30 * 60);
/// The wait between two checks of a video still processing.
pub const DAILY: Duration = Duration::from_secs(24 * 3600);
/// Checks of a processing video before giving up.
pub const MAX_CHECKS: u64 = 30;
/// Age after which a video still processing is given up on.
pub const MAX_AGE_DAYS: i64 = 30;

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Remove Video After Completed", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event(VIDEO_STATUS_CHECK))
        .retries(3)
        .summary("Deletes an uploaded video file from UploadThing 30 minutes after its video is ready or errored, checking daily up to 30 times.")
        .services(&["uploadthing"])
        .emits(&[VIDEO_STATUS_CHECK])
}

async fn run(deps: Deps, ctx: ingot_actors::RunCtx) -> Result<Value, FnError> {
    let video_id = data_str(&ctx.event, "videoResourceId");
    let file_key = data_str(&ctx.event, "fileKey");
    let retry_count = ctx.event["data"]["retryCount"].as_u64().unwrap_or(0);
    if file_key.is_empty() {
        return Err(FnError::NonRetriable("video/status-check needs fileKey".into()));
    }
    let video: ContentResource = ctx
        .step
        .run("Load Video Resource", || async {
            super::load_video(&deps, &video_id)
                .await?
                .ok_or_else(|| StepError::fatal(format!("video resource not found: {video_id:?}")))
        })
        .await?;
    let state = video.fields["state"].as_str().unwrap_or_default();
    if matches!(state, "ready" | "errored") {
        ctx.step.sleep("wait a few just to be sure", GRACE).await?;
        let ut = deps.integrations.uploadthing.clone();
        let deleted: Deleted = ctx
            .step
            .run("delete file from uploadthing", || async {
                Ok(ut.delete_files(std::slice::from_ref(&file_key)).await?)
            })
            .await?;
        return Ok(json!({"videoResource": video, "deleted": deleted}));
    }
    let age_days = (chrono::Utc::now().naive_utc() - video.created_at).num_days();
    if retry_count >= MAX_CHECKS || age_days > MAX_AGE_DAYS {
        return Err(FnError::NonRetriable(format!(
            "timed out waiting for video {video_id} to finish processing ({retry_count} checks, {age_days} days old)"
        )));
    }
    ctx.step.sleep("wait a day", DAILY).await?;
    ctx.step
        .send_event(
            "check video status daily",
            vec![SendEvent::new(
                VIDEO_STATUS_CHECK,
                json!({"videoResourceId": video_id, "fileKey": file_key, "retryCount": retry_count + 1}),
            )],
        )
        .await?;
    Ok(json!({"videoResource": video, "retryCount": retry_count + 1}))
}
