//! `auto-generate-post-seo-description` — once a video's transcript is ready, ask the resource chat to write an SEO
//! description for the post or lesson the video belongs to, unless it has one (reference §4
//! `auto-generate-post-seo-description`).
//!
//! Trigger: `video/transcript-ready-event` `{videoResourceId}` (missing → non-retriable). Steps:
//! 1. "find parent resource of video" — the first live `post` or `lesson` that has the video as a child. None →
//!    returns `{skipped: true, reason}`; a non-blank `fields.description` → skipped too.
//! 2. "get resource creator" — the parent's `createdById` user; missing → non-retriable.
//! 3. sendEvent "trigger seo description generation" → `resource/chat-request-event` `{resourceId, messages: [{role:
//!    user, content: "Generate a SEO-friendly description for this <lesson|post>. …"}], selectedWorkflow:
//!    "prompt-0541t"}` with `user {id, email}`. `resource-chat` streams the answer to the editor, where the author
//!    accepts it, as in the original.
//!
//! Returns `{success, resourceId, resourceType, userId, videoResourceId}`. Decision: the description is generated
//! through `resource-chat` (OpenAI, streamed to PartyKit) as in the original, not written to the resource here:
//! the author reviews it in the editor.

use super::{CHAT_REQUEST, Deps, TRANSCRIPT_READY, data_str, db_err};
use crate::platform::content::ContentResource;
use crate::platform::users::{User, get_user};
use crate::platform::video::parents_of;
use ingot_actors::{FnError, FunctionDef, SendEvent, StepError, Trigger};
use serde_json::{Value, json};

pub const ID: &str = "auto-generate-post-seo-description";
/// The prompt resource the original's resource chat uses for SEO descriptions.
pub const SEO_WORKFLOW: &str = "prompt-0541t";

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Auto-generate Post SEO Description", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event(TRANSCRIPT_READY))
        .summary("After a transcript is ready, asks resource-chat for an SEO description of the video's post or lesson when it has none.")
        .services(&[])
        .emits(&[CHAT_REQUEST])
}

async fn run(deps: Deps, ctx: ingot_actors::RunCtx) -> Result<Value, FnError> {
    let video_id = data_str(&ctx.event, "videoResourceId");
    if video_id.is_empty() {
        return Err(FnError::NonRetriable(
            "video/transcript-ready-event needs videoResourceId".into(),
        ));
    }
    let parent: Option<ContentResource> = ctx
        .step
        .run("find parent resource of video", || async {
            Ok(parents_of(&deps.db, &video_id, &["post", "lesson"])
                .await
                .map_err(db_err)?
                .into_iter()
                .next())
        })
        .await?;
    let Some(parent) = parent else {
        return Ok(json!({"skipped": true, "reason": "no post or lesson has this video", "videoResourceId": video_id}));
    };
    if parent.fields["description"]
        .as_str()
        .is_some_and(|d| !d.trim().is_empty())
    {
        return Ok(
            json!({"skipped": true, "reason": "the resource already has a description", "resourceId": parent.id, "videoResourceId": video_id}),
        );
    }
    let user: User = ctx
        .step
        .run("get resource creator", || async {
            let id = parent
                .created_by_id
                .clone()
                .ok_or_else(|| StepError::fatal(format!("resource {} has no creator", parent.id)))?;
            get_user(&deps.db, &id)
                .await
                .map_err(db_err)?
                .ok_or_else(|| StepError::fatal(format!("user not found: {id:?}")))
        })
        .await?;
    let content_type = if parent.kind == "lesson" { "lesson" } else { "post" };
    let mut request = SendEvent::new(
        CHAT_REQUEST,
        json!({
            "resourceId": parent.id,
            "messages": [{"role": "user", "content": format!("Generate a SEO-friendly description for this {content_type}. The description should be under 160 characters, include relevant keywords, and be compelling for search results.")}],
            "selectedWorkflow": SEO_WORKFLOW,
        }),
    );
    request.user = json!({"id": user.id, "email": user.email});
    ctx.step
        .send_event("trigger seo description generation", vec![request])
        .await?;
    Ok(
        json!({"success": true, "resourceId": parent.id, "resourceType": parent.kind, "userId": user.id, "videoResourceId": video_id}),
    )
}
