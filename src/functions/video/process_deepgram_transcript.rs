//! `process-deepgram-transcript` — Deepgram's callback with a finished transcript: store it, derive subtitles and
//! a readable transcript, and announce them (reference §4, "Deepgram callback"; the original did this inside the
//! HTTP handler, we do it durably in a function).
//!
//! Trigger: `deepgram/web-hook-event` `{videoResourceId, results}`, stored by `POST /webhooks/deepgram` once its
//! callback secret checks out (deduplicated by Deepgram's request id, so a repeated callback starts nothing).
//! Steps:
//! 1. "Load Video Resource" — missing → non-retriable.
//! 2. "store the raw transcript" — the child resource `raw-transcript-<videoId>` (type `raw-transcript`,
//!    `fields.deepgramResults`), created if absent and linked under the video.
//! 3. "update the video resource with the transcript" — merges `srt` (cues ≤ 5.5 s and ≤ 42 characters),
//!    `wordLevelSrt` and `transcript` (paragraphs with `[mm:ss]`) into the video's fields
//!    ([`super::transcript_format`]); returns their lengths.
//! 4. sendEvent "announce that the transcript is ready" → `video/transcript-ready-event` `{videoResourceId}`.
//! 5. Only when both subtitles are non-empty: sendEvent "announce that srt is ready" → `video/srt-ready`
//!    `{videoResourceId}`.
//!
//! Returns `{videoResourceId, rawTranscriptId, srtLength, wordLevelSrtLength, transcriptLength}`.

use super::transcript_format::{paragraph_transcript, srt, word_level_srt};
use super::{DEEPGRAM_WEBHOOK, Deps, SRT_READY, TRANSCRIPT_READY, data_str, db_err};
use crate::platform::content::{self, ContentResource, NewContentResource};
use ingot_actors::{FnError, FunctionDef, SendEvent, StepError, Trigger};
use serde_json::{Map, Value, json};

pub const ID: &str = "process-deepgram-transcript";

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Process Deepgram Transcript", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event(DEEPGRAM_WEBHOOK))
        .summary("Stores Deepgram's transcript under its video, derives SRT, word-level SRT and a timestamped transcript, and announces them.")
        .services(&[])
        .emits(&[TRANSCRIPT_READY, SRT_READY])
}

async fn run(deps: Deps, ctx: ingot_actors::RunCtx) -> Result<Value, FnError> {
    let video_id = data_str(&ctx.event, "videoResourceId");
    let body = &ctx.event["data"]["results"];
    let results = if body.get("results").is_some() {
        body["results"].clone()
    } else {
        body.clone()
    };
    let video: ContentResource = ctx
        .step
        .run("Load Video Resource", || async {
            super::load_video(&deps, &video_id)
                .await?
                .ok_or_else(|| StepError::fatal(format!("video resource not found: {video_id:?}")))
        })
        .await?;
    let raw_id = format!("raw-transcript-{}", video.id);
    let _: String = ctx
        .step
        .run("store the raw transcript", || async {
            content::ensure_content_resource(
                &deps.db,
                &NewContentResource {
                    id: &raw_id,
                    kind: "raw-transcript",
                    fields: json!({"deepgramResults": results}),
                    created_by_id: video.created_by_id.as_deref(),
                },
            )
            .await
            .map_err(db_err)?;
            content::link_resources(&deps.db, &video.id, &raw_id, 0.0, &json!({}))
                .await
                .map_err(db_err)?;
            Ok(raw_id.clone())
        })
        .await?;
    let lengths: Value = ctx
        .step
        .run("update the video resource with the transcript", || async {
            let (srt, word_level, transcript) = (srt(&results), word_level_srt(&results), paragraph_transcript(&results));
            let lengths = json!({"srtLength": srt.len(), "wordLevelSrtLength": word_level.len(), "transcriptLength": transcript.len()});
            let mut patch = Map::new();
            patch.insert("srt".into(), json!(srt));
            patch.insert("wordLevelSrt".into(), json!(word_level));
            patch.insert("transcript".into(), json!(transcript));
            content::merge_resource_fields(&deps.db, &video.id, &patch)
                .await
                .map_err(db_err)?;
            Ok(lengths)
        })
        .await?;
    ctx.step
        .send_event(
            "announce that the transcript is ready",
            vec![SendEvent::new(TRANSCRIPT_READY, json!({"videoResourceId": video.id}))],
        )
        .await?;
    if lengths["srtLength"].as_u64() > Some(0) && lengths["wordLevelSrtLength"].as_u64() > Some(0) {
        ctx.step
            .send_event(
                "announce that srt is ready",
                vec![SendEvent::new(SRT_READY, json!({"videoResourceId": video.id}))],
            )
            .await?;
    }
    let mut out = json!({"videoResourceId": video.id, "rawTranscriptId": raw_id});
    if let (Some(o), Some(l)) = (out.as_object_mut(), lengths.as_object()) {
        o.extend(l.clone());
    }
    Ok(out)
}
