//! Deepgram: order a transcript of a media URL; Deepgram calls back `/webhooks/deepgram` when it is ready.

use super::config::IntegrationsConfig;
use super::http::{HttpService, Request};
use super::{or_placeholder, require};
use crate::config::Secret;
use ingot_actors::service::ServiceError;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ordered {
    pub request_id: String,
}

#[derive(Clone)]
pub struct Deepgram {
    pub http: HttpService,
    key: Option<Secret>,
    public_url: Option<String>,
    callback_secret: Option<Secret>,
    dry_run: bool,
}

impl Deepgram {
    pub fn new(http: HttpService, cfg: &IntegrationsConfig) -> Deepgram {
        Deepgram {
            http,
            key: cfg.deepgram_api_key.clone(),
            public_url: cfg.public_url.clone(),
            callback_secret: cfg.deepgram_callback_secret.clone(),
            dry_run: cfg.dry_run,
        }
    }

    /// Orders the transcript of `media_url`; the callback names the video resource.
    pub async fn order_transcript(&self, media_url: &str, video_resource_id: &str) -> Result<Ordered, ServiceError> {
        require(
            "deepgram",
            self.dry_run,
            &[
                ("DEEPGRAM_API_KEY", self.key.is_some()),
                ("NEXT_PUBLIC_URL", self.public_url.is_some()),
                ("DEEPGRAM_CALLBACK_SECRET", self.callback_secret.is_some()),
            ],
        )?;
        let base = self.public_url.as_deref().unwrap_or("http://dry-run.invalid");
        let mut callback =
            reqwest::Url::parse(&format!("{base}/webhooks/deepgram")).map_err(|e| ServiceError::Invalid {
                service: "deepgram".into(),
                message: format!("bad callback URL: {e}"),
            })?;
        callback
            .query_pairs_mut()
            .append_pair("videoResourceId", video_resource_id)
            .append_pair("secret", or_placeholder(&self.callback_secret).expose());
        let req = Request::post("v1/listen")
            .secret_header("authorization", format!("Token {}", or_placeholder(&self.key).expose()))
            .query("model", "whisper-large")
            .query("punctuate", "true")
            .query("paragraphs", "true")
            .query("utterances", "true")
            .query("utt_split", "0.5")
            .secret_query("callback", &Secret::new(callback.to_string()))
            .json(json!({ "url": media_url }));
        self.http.json(req).await
    }
}
