//! OpenAI: chat completions (OCR clean-up, SEO descriptions, split points) and embeddings (concepts).

use super::config::IntegrationsConfig;
use super::http::{HttpService, Request};
use super::{or_placeholder, require};
use crate::config::Secret;
use ingot_actors::service::ServiceError;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Message {
        Message {
            role: "system".into(),
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Message {
        Message {
            role: "user".into(),
            content: content.into(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Completion {
    choices: Vec<Choice>,
}
#[derive(Deserialize, Default)]
#[serde(default)]
struct Choice {
    message: Option<Message>,
}
#[derive(Deserialize, Default)]
#[serde(default)]
struct Embeddings {
    data: Vec<Embedding>,
}
#[derive(Deserialize, Default)]
#[serde(default)]
struct Embedding {
    embedding: Vec<f32>,
}

#[derive(Clone)]
pub struct OpenAi {
    pub http: HttpService,
    pub(super) key: Option<Secret>,
    pub(super) dry_run: bool,
}

impl OpenAi {
    pub fn new(http: HttpService, cfg: &IntegrationsConfig) -> OpenAi {
        OpenAi {
            http,
            key: cfg.openai_api_key.clone(),
            dry_run: cfg.dry_run,
        }
    }

    pub(super) fn req(&self, path: &str) -> Result<Request, ServiceError> {
        require("openai", self.dry_run, &[("OPENAI_API_KEY", self.key.is_some())])?;
        Ok(Request::post(path).secret_header(
            "authorization",
            format!("Bearer {}", or_placeholder(&self.key).expose()),
        ))
    }

    /// The assistant's answer (empty in a dry run).
    pub async fn chat(&self, model: &str, messages: &[Message]) -> Result<String, ServiceError> {
        let req = self
            .req("chat/completions")?
            .json(json!({"model": model, "messages": messages}));
        let c: Completion = self.http.json(req).await?;
        match c.choices.into_iter().next().and_then(|c| c.message) {
            Some(m) => Ok(m.content),
            None if self.dry_run => Ok(String::new()),
            None => Err(ServiceError::BadResponse {
                service: "openai".into(),
                message: "no choices in the answer".into(),
            }),
        }
    }

    /// The embedding of `input` (`text-embedding-3-small`, floats).
    pub async fn embedding(&self, input: &str) -> Result<Vec<f32>, ServiceError> {
        let req = self
            .req("embeddings")?
            .json(json!({"model": "text-embedding-3-small", "input": input, "encoding_format": "float"}));
        let e: Embeddings = self.http.json(req).await?;
        Ok(e.data.into_iter().next().map(|e| e.embedding).unwrap_or_default())
    }
}
