//! `perform-code-extraction` — turn a screenshot of code into code (reference §3.11 `perform_code_extraction`).
//!
//! Triggers `ocr/webhook` `{data: {screenshotUrl, resourceId}}` (what `/webhooks/ocr` emits) and the original
//! `ocr/web-hook-event` `{ocrWebhookEvent: {screenshotUrl, resourceId}}`. No screenshot URL: non-retriable. Steps:
//! 1. "upload the screenshot" — downloads the screenshot and puts it in S3 (`AWS_BUCKET_NAME`) as
//!    `ocr/<event ts in ms>.png`: the key is fixed by the event (the original used the clock), so a retry writes
//!    the same object.
//! 2. "detect the text" — Textract `DetectDocumentText` on that object; the `LINE` blocks joined with newlines.
//! 3. "extract code from screenshot" — OpenAI chat completion (`gpt-4`): a system prompt to reformat OCR'd code
//!    without changing it, the user prompt asking for one fenced code block with its language.
//! 4. "partykit broadcast \[\<resourceId>]" — only with a `resourceId`: `{body: {content: code, role: "assistant"},
//!    requestId: resourceId, name: "code.extraction.completed"}` to the room `resourceId`.
//!
//! Decision: the original turned every failure into a non-retriable error ("Error extracting code from
//! screenshot"); here failures are classified like everywhere else — a throttled or failing AWS/OpenAI call is
//! retried, a rejected one (4xx, not configured) fails the run — and the work is split into steps so a retry does
//! not repeat a finished upload or Textract call. Returns the code.

use crate::functions::content::content_announce::announce;
use crate::functions::{Deps, event_triggers};
use crate::integrations::aws::{PutObject, lines};
use crate::integrations::openai::Message as ChatMessage;
use crate::integrations::partykit::Message;
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde_json::{Value, json};

pub const ID: &str = "perform-code-extraction";
pub const EVENT: &str = "ocr/webhook";
pub const MODEL: &str = "gpt-4";
pub const SYSTEM_PROMPT: &str = "You are a helpful assistant that reformats code captured by OCR. Fix only the layout \
     (indentation, line breaks, spacing); never change, add or remove code.";

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Perform Code Extraction", move |ctx| run(deps.clone(), ctx));
    for t in event_triggers(EVENT, None) {
        def = def.trigger(t);
    }
    def.summary("Uploads a code screenshot to S3, reads it with Textract, has OpenAI reformat the code and announces it on PartyKit.")
        .services(&["download", "s3", "textract", "openai", "partykit"])
        .emits(&[])
}

/// The user prompt for the OCR'd text.
pub fn user_prompt(text: &str) -> String {
    format!(
        "Reformat this OCR'd code. Answer with only one fenced code block (```<language>) holding the code, \
         nothing else.\n\n{text}"
    )
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let d = &ctx.event["data"];
    let ocr = if d["ocrWebhookEvent"].is_object() {
        &d["ocrWebhookEvent"]
    } else {
        &d["data"]
    };
    let url = ocr["screenshotUrl"].as_str().unwrap_or_default().to_string();
    let resource_id = ocr["resourceId"].as_str().unwrap_or_default().to_string();
    if url.is_empty() {
        return Err(StepError::fatal("the OCR event has no screenshotUrl").into());
    }
    let key = format!("ocr/{}.png", ctx.event["ts"].as_i64().unwrap_or_default());
    let i = &deps.integrations;

    let put: PutObject = ctx
        .step
        .run("upload the screenshot", || async {
            let png = i.download.get(&url).await?;
            Ok(i.s3.put_object(&key, png, "image/png").await?)
        })
        .await?;
    let text: String = ctx
        .step
        .run("detect the text", || async {
            Ok(lines(&i.textract.detect_document_text(&put.bucket, &put.key).await?))
        })
        .await?;
    let code: String = ctx
        .step
        .run("extract code from screenshot", || async {
            let messages = [
                ChatMessage::system(SYSTEM_PROMPT),
                ChatMessage::user(user_prompt(&text)),
            ];
            Ok(i.openai.chat(MODEL, &messages).await?)
        })
        .await?;
    if !resource_id.is_empty() {
        let message = Message::new(
            "code.extraction.completed",
            &resource_id,
            json!({"content": code, "role": "assistant"}),
        );
        let name = format!("partykit broadcast [{resource_id}]");
        announce(&ctx.step, &deps, &name, Some(&resource_id), message).await?;
    }
    Ok(json!(code))
}
