//! `resource-chat` — the editor's AI assistant: answer a chat about a resource, streaming the answer to the
//! editor through PartyKit (reference §4 AI `resource-chat`).
//!
//! Triggers `resource/chat-request` and the original `resource/chat-request-event`, data `{resourceId,
//! messages: [{role, content}], selectedWorkflow?, promptId?, model?}`, `user` = the asking user. Flow control: at
//! most 5 runs per minute per `event.user.id` (Inngest `rateLimit`; the 6th event is recorded as skipped with
//! reason `rate_limit`, as Inngest drops it). Steps:
//! 1. "partykit broadcast user prompt \[\<resourceId>]" — when the last message has content: `{body: content,
//!    requestId: resourceId, name: "resource.chat.prompted", userId}`.
//! 2. "get the resource" — missing: non-retriable.
//! 3. "get the video resource" — the resource's first child when it is a `videoResource` (else null): its
//!    `transcript` is available to the prompts.
//! 4. The prompt: `selectedWorkflow` `basic` (or none) uses the built-in writing-assistant prompt; otherwise "Load
//!    Prompt" reads the `prompt` resource with that id or slug (missing: the built-in prompt). A prompt body that is
//!    a JSON array of `{role, content}` has each content Liquid-rendered ("parse json content", one step each): the
//!    first is the system prompt, the rest seed messages; any other body is rendered by "parse system prompt".
//! 5. A conversation of at most 2 messages gets the system prompt and seed messages in front.
//! 6. "answer the user prompt" — the last two messages are Liquid-rendered; the OpenAI completion (model: the
//!    prompt's `fields.model`, else the event's `model`, else `gpt-4-turbo`) is **streamed**; text received is
//!    relayed to PartyKit room `resourceId` as `{body: text, requestId, name: "ai.message"}` at most every 250 ms
//!    (what arrived within 250 ms of the first unsent piece goes out as one message), then the sentinel body `\ok`.
//!    The assistant's message is appended. A crash or failure mid-stream leaves no record: the step runs again from
//!    the start (the editor receives the answer again, then `\ok`).
//! 7. "partykit broadcast \[\<resourceId>]" — `{body: messages, requestId, name: "resource.chat.completed",
//!    metadata: {workflow}}`.
//!
//! Liquid variables: the resource's fields at the top level (`{{title}}`, `{{body}}`, ...), `resource` (the whole
//! resource), and `transcript` (the video resource's). A template that does not render is used as it is.
//! Without PartyKit the answer is still computed and returned, nothing is relayed. Returns `{resource, messages}`.

use crate::functions::content::content_announce::announce;
use crate::functions::{Deps, event_triggers};
use crate::integrations::openai::Message as ChatMessage;
use crate::integrations::partykit::{Message, PartyKit};
use crate::platform::content::{self, ContentResource};
use ingot_actors::{FnError, FunctionDef, ResultExt, RunCtx, StepError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

pub const ID: &str = "resource-chat";
pub const EVENT: &str = "resource/chat-request";
pub const DEFAULT_MODEL: &str = "gpt-4-turbo";
/// Relayed text is batched over this long.
pub const RELAY_EVERY: Duration = Duration::from_millis(250);
/// The body of the last relayed message.
pub const END_SENTINEL: &str = "\\ok";
pub const BASIC_PROMPT: &str = "You are a helpful writing assistant for the resource titled \"{{title}}\". \
     Help the author improve it; answer concisely in Markdown.\n\nThe resource:\n{{body}}";

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Resource Chat", move |ctx| run(deps.clone(), ctx));
    for t in event_triggers(EVENT, None) {
        def = def.trigger(t);
    }
    def.rate_limit(5, Duration::from_secs(60), Some("event.user.id"))
        .summary("Answers a chat about a resource with a streamed OpenAI completion relayed to the editor through PartyKit (5 per minute per user).")
        .services(&["openai", "partykit"])
        .emits(&[])
}

/// Renders `template` with `vars` (an object); a template that does not parse or render is returned as it is.
pub fn render(template: &str, vars: &Value) -> String {
    crate::email::templates::render_or_itself(template, vars)
}

/// The Liquid variables of a resource (see the module doc).
pub fn liquid_vars(resource: &ContentResource, video: Option<&ContentResource>) -> Value {
    let mut vars = resource.fields.as_object().cloned().unwrap_or_default();
    vars.insert("resource".into(), json!(resource));
    if let Some(t) = video.and_then(|v| v.fields.get("transcript")) {
        vars.insert("transcript".into(), t.clone());
    }
    Value::Object(vars)
}

fn messages_of(data: &Value) -> Vec<ChatMessage> {
    data["messages"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| ChatMessage {
                    role: m["role"].as_str().unwrap_or("user").to_string(),
                    content: match &m["content"] {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    },
                })
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug, Serialize, Deserialize)]
struct Prompt {
    body: String,
    model: Option<String>,
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let data = ctx.event["data"].clone();
    let resource_id = data["resourceId"].as_str().unwrap_or_default().to_string();
    let user_id = ctx.event["user"]["id"].clone();
    let workflow = data["selectedWorkflow"].as_str().unwrap_or("basic").to_string();
    let mut messages = messages_of(&data);
    if resource_id.is_empty() {
        return Err(StepError::fatal("the chat request names no resourceId").into());
    }
    let db = &deps.db;

    if let Some(last) = messages.last().filter(|m| !m.content.is_empty()) {
        let message =
            Message::new("resource.chat.prompted", &resource_id, json!(last.content)).with("userId", user_id.clone());
        let name = format!("partykit broadcast user prompt [{resource_id}]");
        announce(&ctx.step, &deps, &name, Some(&resource_id), message).await?;
    }

    let resource: ContentResource = ctx
        .step
        .run("get the resource", || async {
            content::get_content_resource(db, &resource_id)
                .await
                .retryable()?
                .ok_or_else(|| StepError::fatal(format!("Resource not found: {resource_id:?}")))
        })
        .await?;
    let video: Option<ContentResource> = ctx
        .step
        .run("get the video resource", || async {
            let children = content::get_children(db, &resource.id).await.retryable()?;
            Ok(children
                .into_iter()
                .next()
                .map(|c| c.resource)
                .filter(|r| r.kind == "videoResource"))
        })
        .await?;
    let vars = liquid_vars(&resource, video.as_ref());

    let prompt: Option<Prompt> = if workflow == "basic" {
        None
    } else {
        ctx.step
            .run("Load Prompt", || async {
                let p = content::get_content_resource(db, &workflow).await.retryable()?;
                Ok(p.filter(|p| p.kind == "prompt").map(|p| Prompt {
                    body: p.fields["body"].as_str().unwrap_or_default().to_string(),
                    model: p.fields["model"].as_str().map(str::to_string),
                }))
            })
            .await?
    };
    let body = prompt.as_ref().map_or(BASIC_PROMPT, |p| p.body.as_str());
    let mut seed: Vec<ChatMessage> = Vec::new();
    let system: String = match serde_json::from_str::<Vec<ChatMessage>>(body) {
        Ok(list) if !list.is_empty() => {
            for m in list {
                let content: String = ctx
                    .step
                    .pure("parse json content", || Ok(render(&m.content, &vars)))
                    .await?;
                seed.push(ChatMessage { role: m.role, content });
            }
            seed.remove(0).content
        }
        _ => ctx.step.pure("parse system prompt", || Ok(render(body, &vars))).await?,
    };
    if messages.len() <= 2 {
        let mut front = vec![ChatMessage::system(system)];
        front.append(&mut seed);
        front.append(&mut messages);
        messages = front;
    }
    let n = messages.len();
    for m in messages.iter_mut().skip(n.saturating_sub(2)) {
        m.content = render(&m.content, &vars);
    }
    let model = prompt
        .as_ref()
        .and_then(|p| p.model.clone())
        .or_else(|| data["model"].as_str().map(str::to_string))
        .unwrap_or_else(|| DEFAULT_MODEL.to_string());

    let i = &deps.integrations;
    let answer: String = ctx
        .step
        .run("answer the user prompt", || {
            stream_answer(&i.openai, &i.partykit, &resource_id, &model, &messages)
        })
        .await?;
    messages.push(ChatMessage {
        role: "assistant".into(),
        content: answer,
    });

    let message = Message::new("resource.chat.completed", &resource_id, json!(messages))
        .with("metadata", json!({"workflow": workflow}));
    let name = format!("partykit broadcast [{resource_id}]");
    announce(&ctx.step, &deps, &name, Some(&resource_id), message).await?;
    Ok(json!({"resource": resource, "messages": messages}))
}

/// Streams the completion, relaying it to the room in batches (see the module doc); answers the whole text.
async fn stream_answer(
    openai: &crate::integrations::openai::OpenAi,
    pk: &PartyKit,
    room: &str,
    model: &str,
    messages: &[ChatMessage],
) -> Result<String, StepError> {
    let relay = |text: String| async move {
        if pk.enabled() {
            pk.broadcast(room, &Message::new("ai.message", room, json!(text)))
                .await?;
        }
        Ok::<(), StepError>(())
    };
    let mut stream = openai.chat_stream(model, messages).await?;
    let (mut full, mut pending) = (String::new(), String::new());
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        let flush_at = due;
        tokio::select! {
            delta = stream.next_delta() => match delta? {
                Some(text) => {
                    if pending.is_empty() {
                        due = Some(tokio::time::Instant::now() + RELAY_EVERY);
                    }
                    pending.push_str(&text);
                    full.push_str(&text);
                }
                None => break,
            },
            _ = async { tokio::time::sleep_until(flush_at.expect("armed")).await }, if flush_at.is_some() => {
                due = None;
                relay(std::mem::take(&mut pending)).await?;
            }
        }
    }
    if !pending.is_empty() {
        relay(pending).await?;
    }
    relay(END_SENTINEL.to_string()).await?;
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liquid_with_resource_fields() {
        let vars = json!({"title": "Rust", "resource": {"id": "r1"}, "transcript": "hi"});
        assert_eq!(
            render("{{title}} / {{resource.id}} / {{transcript}}", &vars),
            "Rust / r1 / hi"
        );
        assert_eq!(render("{% if %}", &vars), "{% if %}");
    }

    #[test]
    fn messages_from_the_event() {
        let m = messages_of(&json!({"messages": [{"role": "user", "content": "a"}, {"content": null}]}));
        assert_eq!(m.len(), 2);
        assert_eq!((m[1].role.as_str(), m[1].content.as_str()), ("user", ""));
    }
}
