//! OpenAI chat completions beyond the plain one: JSON mode ([`OpenAi::chat_json`], for split points) and streamed
//! (server-sent events, [`OpenAi::chat_stream`], for `resource-chat`).
//!
//! [`OpenAi::chat_stream`] goes through the OpenAI service actor like every call (rate, mailbox, 429/5xx
//! classification, dry run): the actor's timeout bounds the wait for the answer's status and headers. The body is
//! then read as it arrives; each wait for the next piece is bounded by the same timeout (an idle stream is a
//! timeout, a long one is not). The stream is `data: {json}` lines ending with `data: [DONE]`; each JSON carries
//! `choices[0].delta.content`. A body that ends before `[DONE]`, a line that is not JSON, or an `error` object in
//! the stream are errors (retryable: the step runs again from the start).

use super::openai::{Message, OpenAi};
use ingot_actors::service::ServiceError;
use serde_json::{Value, json};
use std::time::Duration;

/// An open completion stream. [`ChatStream::next_delta`] is cancel-safe (nothing read is lost when its future is
/// dropped), so it can race a timer in `select!`.
pub struct ChatStream {
    resp: Option<reqwest::Response>,
    buf: Vec<u8>,
    done: bool,
    idle: Duration,
}

fn bad(message: String) -> ServiceError {
    ServiceError::BadResponse {
        service: "openai".into(),
        message,
    }
}

impl OpenAi {
    /// A completion in JSON mode (`response_format: json_object`): the answer parsed as JSON. A dry run answers
    /// `{}`.
    pub async fn chat_json(&self, model: &str, messages: &[Message]) -> Result<Value, ServiceError> {
        let req = self.req("chat/completions")?.json(json!({
            "model": model, "messages": messages, "response_format": {"type": "json_object"},
        }));
        let answer: Value = self.http.json(req).await?;
        if answer.get("dryRun").is_some() {
            return Ok(json!({}));
        }
        let content = answer["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| bad("no choices in the answer".into()))?;
        serde_json::from_str(content).map_err(|e| bad(format!("the answer is not JSON: {e}")))
    }

    /// Starts a streamed chat completion.
    pub async fn chat_stream(&self, model: &str, messages: &[Message]) -> Result<ChatStream, ServiceError> {
        let req = self
            .req("chat/completions")?
            .json(json!({"model": model, "messages": messages, "stream": true}));
        let resp = self.http.open(req).await?;
        Ok(ChatStream {
            done: resp.is_none(),
            resp,
            buf: Vec::new(),
            idle: self.http.service.timeout(),
        })
    }
}

impl ChatStream {
    /// The next piece of the answer's text; `None` once `[DONE]` arrived (at once in a dry run).
    pub async fn next_delta(&mut self) -> Result<Option<String>, ServiceError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                if let Some(text) = self.line(&line)? {
                    return Ok(Some(text));
                }
                continue;
            }
            let Some(resp) = self.resp.as_mut() else {
                return Ok(None);
            };
            match tokio::time::timeout(self.idle, resp.chunk()).await {
                Err(_) => {
                    return Err(ServiceError::Timeout {
                        service: "openai".into(),
                        after: self.idle,
                    });
                }
                Ok(Err(e)) => {
                    return Err(ServiceError::Unavailable {
                        service: "openai".into(),
                        message: format!("stream broken: {}", e.without_url()),
                        retry_after: None,
                    });
                }
                Ok(Ok(Some(bytes))) => self.buf.extend_from_slice(&bytes),
                Ok(Ok(None)) => {
                    if !self.buf.is_empty() {
                        self.buf.push(b'\n');
                        continue;
                    }
                    return Err(bad("the stream ended before [DONE]".into()));
                }
            }
        }
    }

    /// One SSE line: a content delta, or nothing (comments, empty lines, role-only or final chunks).
    fn line(&mut self, line: &[u8]) -> Result<Option<String>, ServiceError> {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches(['\r', '\n']);
        let Some(data) = line.strip_prefix("data:") else {
            return Ok(None);
        };
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(None);
        }
        let v: Value = serde_json::from_str(data).map_err(|e| bad(format!("invalid JSON in the stream: {e}")))?;
        if let Some(err) = v.get("error") {
            let message = err["message"].as_str().unwrap_or("error in the stream").to_string();
            return Err(ServiceError::Unavailable {
                service: "openai".into(),
                message,
                retry_after: None,
            });
        }
        Ok(v["choices"][0]["delta"]["content"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string))
    }
}
