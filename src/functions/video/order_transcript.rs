//! `order-transcript` — order the transcript of a new video from Deepgram (reference §4 `order-transcript`).
//!
//! Trigger: `video-resource/created` `{videoResourceId, originalMediaUrl, moduleSlug?}`. Steps:
//! 1. "Load Video Resource" — missing → non-retriable.
//! 2. "Order Transcript \[Deepgram\]" — `POST /v1/listen?model=whisper-large&punctuate=true&paragraphs=true&
//!    utterances=true&utt_split=0.5&callback=<NEXT_PUBLIC_URL>/webhooks/deepgram?videoResourceId=…&secret=…`,
//!    body `{url: originalMediaUrl}` (the event's URL, else the resource's `fields.originalMediaUrl`).
//!    Deepgram later calls back; `process-deepgram-transcript` takes it from there.
//!
//! Returns `{deepgram: {request_id}, videoResource}`. A 429/5xx retries the order (honouring Retry-After); a 4xx
//! (a media URL Deepgram cannot fetch) fails the run.

use super::{Deps, VIDEO_RESOURCE_CREATED, data_str};
use crate::integrations::deepgram::Ordered;
use crate::platform::content::ContentResource;
use ingot_actors::{FnError, FunctionDef, StepError, Trigger};
use serde_json::{Value, json};

pub const ID: &str = "order-transcript";

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Order Transcript", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event(VIDEO_RESOURCE_CREATED))
        .summary("Orders a new video's transcript from Deepgram with a callback to /webhooks/deepgram.")
        .services(&["deepgram"])
        .emits(&[])
}

async fn run(deps: Deps, ctx: ingot_actors::RunCtx) -> Result<Value, FnError> {
    let video_id = data_str(&ctx.event, "videoResourceId");
    let video: ContentResource = ctx
        .step
        .run("Load Video Resource", || async {
            super::load_video(&deps, &video_id)
                .await?
                .ok_or_else(|| StepError::fatal(format!("video resource not found: {video_id:?}")))
        })
        .await?;
    let media_url = Some(data_str(&ctx.event, "originalMediaUrl"))
        .filter(|u| !u.is_empty())
        .or_else(|| video.fields["originalMediaUrl"].as_str().map(str::to_string))
        .ok_or_else(|| FnError::NonRetriable(format!("video resource {video_id:?} has no media URL")))?;
    let dg = deps.integrations.deepgram.clone();
    let ordered: Ordered = ctx
        .step
        .run("Order Transcript [Deepgram]", || async {
            Ok(dg.order_transcript(&media_url, &video.id).await?)
        })
        .await?;
    Ok(json!({"deepgram": ordered, "videoResource": video}))
}
