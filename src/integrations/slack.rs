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

    /// Posts `text`, with optional `attachments` (Slack's legacy attachment objects, as the platform sends).
    pub async fn post(&self, text: &str, attachments: Option<Value>) -> Result<(), ServiceError> {
        require("slack", self.dry_run, &[("SLACK_WEBHOOK_URL", self.configured)])?;
        let mut body = json!({ "text": text });
        if let Some(a) = attachments {
            body["attachments"] = a;
        }
        self.http.send(Request::post("").json(body)).await.map(|_| ())
    }
}
