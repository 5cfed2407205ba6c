//! `transcript-ready-event` — send a finished transcript to the editor (reference §4 `transcript-ready-event`).
//!
//! Trigger: `video/transcript-ready-event` `{videoResourceId}` (missing id → non-retriable). Steps:
//! 1. "get video resource" — missing → non-retriable.
//! 2. "send the transcript to the party" — PartyKit, room = the video id,
//!    `{body: fields.transcript, requestId: videoResourceId, name: "transcript.ready"}`.
//!
//! Returns `{videoResourceId, announcement}` (the original returned `event.data.results`, always undefined).

use super::{Deps, TRANSCRIPT_READY, announce, data_str};
use crate::integrations::partykit::Message;
use crate::platform::content::ContentResource;
use ingot_actors::{FnError, FunctionDef, StepError, Trigger};
use serde_json::{Value, json};

pub const ID: &str = "transcript-ready-event";

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Transcript Ready", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event(TRANSCRIPT_READY))
        .summary("Announces a video's finished transcript to its PartyKit room.")
        .services(&["partykit"])
        .emits(&[])
}

async fn run(deps: Deps, ctx: ingot_actors::RunCtx) -> Result<Value, FnError> {
    let video_id = data_str(&ctx.event, "videoResourceId");
    if video_id.is_empty() {
        return Err(FnError::NonRetriable(
            "video/transcript-ready-event needs videoResourceId".into(),
        ));
    }
    let video: ContentResource = ctx
        .step
        .run("get video resource", || async {
            super::load_video(&deps, &video_id)
                .await?
                .ok_or_else(|| StepError::fatal(format!("video resource not found: {video_id:?}")))
        })
        .await?;
    let announcement = announce(
        &ctx.step,
        &deps,
        "send the transcript to the party",
        &video.id,
        Message::new("transcript.ready", &video_id, video.fields["transcript"].clone()),
    )
    .await?;
    Ok(json!({"videoResourceId": video_id, "announcement": announcement}))
}
