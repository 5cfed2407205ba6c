//! The video pipeline (reference §4 "Video pipeline", design document "Video Processing"): an upload becomes a
//! Mux asset and a `videoResource`; Deepgram transcribes it and calls back; the transcript and subtitles are
//! stored, announced and added to the Mux asset as a text track; Mux's webhooks mark the video ready or errored;
//! the uploaded file is deleted from UploadThing once the video is done. One file per function id:
//!
//! `video/video-uploaded` → [`video_uploaded`] → `video-resource/created` → [`order_transcript`] → Deepgram …
//! `POST /webhooks/deepgram` → `deepgram/web-hook-event` → [`process_deepgram_transcript`] →
//! `video/transcript-ready-event` ([`transcript_ready_event`], [`auto_generate_post_seo_description`]) and
//! `video/srt-ready` ([`add_srt_mux_asset`]); `mux/web-hook-event` → [`mux_video_asset_ready`] /
//! [`mux_video_asset_error`]; `video/status-check` → [`remove_video_after_completed`].
//!
//! PartyKit announcements are best effort, as in the original (which ignored their failures): a 429 or 5xx
//! retries the announcing step, a rejection or an unconfigured PartyKit completes it as not delivered, and an
//! announcement that still fails after its retries is logged and the run goes on ([`announce`]).

pub mod add_srt_mux_asset;
pub mod auto_generate_post_seo_description;
pub mod mux_video_asset_error;
pub mod mux_video_asset_ready;
pub mod order_transcript;
pub mod process_deepgram_transcript;
pub mod remove_video_after_completed;
pub mod transcript_format;
pub mod transcript_ready_event;
pub mod video_uploaded;

use super::Deps;
use crate::integrations::partykit::Message;
use crate::platform::content::{ContentResource, get_content_resource};
use ingot_actors::{FnError, FunctionDef, Step, StepError};
use serde_json::{Value, json};

pub const VIDEO_UPLOADED: &str = "video/video-uploaded";
pub const VIDEO_RESOURCE_CREATED: &str = "video-resource/created";
pub const VIDEO_STATUS_CHECK: &str = "video/status-check";
pub const DEEPGRAM_WEBHOOK: &str = "deepgram/web-hook-event";
pub const TRANSCRIPT_READY: &str = "video/transcript-ready-event";
pub const SRT_READY: &str = "video/srt-ready";
pub const MUX_WEBHOOK: &str = "mux/web-hook-event";
pub const CHAT_REQUEST: &str = "resource/chat-request-event";
/// The content type of a video resource.
pub const VIDEO_RESOURCE: &str = "videoResource";

/// The video pipeline's functions, for [`super::all`].
pub fn definitions(deps: &Deps) -> Vec<FunctionDef> {
    vec![
        video_uploaded::definition(deps.clone()),
        order_transcript::definition(deps.clone()),
        process_deepgram_transcript::definition(deps.clone()),
        transcript_ready_event::definition(deps.clone()),
        auto_generate_post_seo_description::definition(deps.clone()),
        add_srt_mux_asset::definition(deps.clone()),
        mux_video_asset_ready::definition(deps.clone()),
        mux_video_asset_error::definition(deps.clone()),
        remove_video_after_completed::definition(deps.clone()),
    ]
}

/// A platform error inside a step: database failures retry, anything else (missing or bad data) does not.
pub(crate) fn db_err(e: crate::platform::Error) -> StepError {
    if e.is_retryable() {
        StepError::retryable(e.to_string())
    } else {
        StepError::fatal(e.to_string())
    }
}

/// Loads a video resource (`None` when missing or not a video).
pub(crate) async fn load_video(deps: &Deps, id: &str) -> Result<Option<ContentResource>, StepError> {
    Ok(get_content_resource(&deps.db, id)
        .await
        .map_err(db_err)?
        .filter(|r| r.kind == VIDEO_RESOURCE))
}

/// A string field of the trigger event's data, or "".
pub(crate) fn data_str(event: &Value, key: &str) -> String {
    event["data"][key].as_str().unwrap_or_default().to_string()
}

/// One PartyKit announcement as a step named `name` (see the module docs): `{delivered, answer | reason}`.
pub(crate) async fn announce(
    step: &Step,
    deps: &Deps,
    name: &str,
    room: &str,
    message: Message,
) -> Result<Value, FnError> {
    let pk = deps.integrations.partykit.clone();
    let room = room.to_string();
    let result = step
        .run(name, || async move {
            if !pk.enabled() {
                return Ok(json!({"delivered": false, "reason": "PartyKit is not configured"}));
            }
            match pk.broadcast(&room, &message).await {
                Ok(answer) => Ok(json!({"delivered": true, "answer": answer})),
                Err(e) if e.is_retryable() => Err(StepError::from(e)),
                Err(e) => Ok(json!({"delivered": false, "reason": e.to_string()})),
            }
        })
        .await;
    match result {
        Err(FnError::StepFailed { step, message }) => {
            tracing::warn!(step = %step, error = %message, "PartyKit announcement not delivered; going on");
            Ok(json!({"delivered": false, "reason": message}))
        }
        other => other,
    }
}
