//! Slack incoming webhook (`SLACK_WEBHOOK_URL`): post a message to the channel the webhook belongs to.

use super::config::IntegrationsConfig;
use super::http::{HttpService, Request};
use super::require;
use ingot_actors::service::ServiceError;
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Slack {
    pub http: HttpService,
    configured: bool,
    dry_run: bool,
}

impl Slack {
    pub fn new(http: HttpService, cfg: &IntegrationsConfig) -> Slack {
        Slack {
            http,
            configured: cfg.slack_webhook_url.is_some(),
            dry_run: cfg.dry_run,
        }
    }

    /// Whether `SLACK_WEBHOOK_URL` is set (or this is a dry run).
    pub fn configured(&self) -> bool {
        self.dry_run || self.configured
    }

    /// Posts `text`, with optional `attachments` (Slack's legacy attachment objects, as the platform sends).
    pub async fn post(&self, text: &str, attachments: Option<Value>) -> Result<(), ServiceError> {
        let mut body = json!({ "text": text });
        if let Some(a) = attachments {
            body["attachments"] = a;
        }
        self.post_message(body).await
    }

    /// Posts a whole message payload (`text`, `attachments`, `username`, `icon_emoji`, ...). The webhook answers
    /// `ok` as plain text; errors (`invalid_payload`, `no_service`, 429 with `Retry-After`) are classified as
    /// every service's.
    pub async fn post_message(&self, body: Value) -> Result<(), ServiceError> {
        require("slack", self.dry_run, &[("SLACK_WEBHOOK_URL", self.configured)])?;
        self.http.send(Request::post("").json(body)).await.map(|_| ())
    }
}
