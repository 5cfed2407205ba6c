//! Mux video: create an asset from a URL, read it, add and remove text tracks (subtitles). Basic auth with
//! `MUX_ACCESS_TOKEN_ID:MUX_SECRET_KEY`.

use super::config::IntegrationsConfig;
use super::http::{HttpService, Request};
use super::{or_placeholder, require};
use crate::config::Secret;
use base64::Engine;
use ingot_actors::service::ServiceError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlaybackId {
    pub id: String,
    pub policy: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Asset {
    pub id: String,
    pub status: String,
    pub playback_ids: Vec<PlaybackId>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Track {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Data<T> {
    data: T,
}

#[derive(Clone)]
pub struct Mux {
    pub http: HttpService,
    id: Option<String>,
    secret: Option<Secret>,
    dry_run: bool,
}

impl Mux {
    pub fn new(http: HttpService, cfg: &IntegrationsConfig) -> Mux {
        Mux {
            http,
            id: cfg.mux_token_id.clone(),
            secret: cfg.mux_secret_key.clone(),
            dry_run: cfg.dry_run,
        }
    }

    fn auth(&self, req: Request) -> Result<Request, ServiceError> {
        require(
            "mux",
            self.dry_run,
            &[
                ("MUX_ACCESS_TOKEN_ID", self.id.is_some()),
                ("MUX_SECRET_KEY", self.secret.is_some()),
            ],
        )?;
        let pair = format!(
            "{}:{}",
            self.id.as_deref().unwrap_or("dry-run"),
            or_placeholder(&self.secret).expose()
        );
        let basic = base64::engine::general_purpose::STANDARD.encode(pair);
        Ok(req.secret_header("authorization", format!("Basic {basic}")))
    }

    /// A public-playback asset from `input_url`, with MP4 support for downloads.
    pub async fn create_asset(&self, input_url: &str) -> Result<Asset, ServiceError> {
        let body = json!({"input": [{"url": input_url}], "playback_policy": ["public"], "mp4_support": "standard"});
        let d: Data<Asset> = self
            .http
            .json(self.auth(Request::post("video/v1/assets").json(body))?)
            .await?;
        Ok(d.data)
    }

    /// The video pipeline's asset (reference §4 `video-uploaded`): public playback, standard MP4, temporary master
    /// access, `plus` quality up to 2160p, and `passthrough` naming the video resource (Mux's webhooks echo it).
    pub async fn create_video_asset(&self, input_url: &str, passthrough: &str) -> Result<Asset, ServiceError> {
        let body = json!({
            "master_access": "temporary",
            "video_quality": "plus",
            "max_resolution_tier": "2160p",
            "playback_policy": ["public"],
            "input": [{"url": input_url}],
            "mp4_support": "standard",
            "passthrough": passthrough,
        });
        let d: Data<Asset> = self
            .http
            .json(self.auth(Request::post("video/v1/assets").json(body))?)
            .await?;
        Ok(d.data)
    }

    /// The English subtitles track from an SRT URL, as `add-srt-mux-asset` adds it (reference §4).
    pub async fn add_srt_track(&self, asset_id: &str, url: &str) -> Result<Track, ServiceError> {
        let body = json!({"url": url, "type": "text", "text_type": "subtitles", "closed_captions": true, "language_code": "en-US", "name": "English", "passthrough": "English"});
        let req = Request::post(format!("video/v1/assets/{asset_id}/tracks")).json(body);
        let d: Data<Track> = self.http.json(self.auth(req)?).await?;
        Ok(d.data)
    }

    pub async fn get_asset(&self, asset_id: &str) -> Result<Asset, ServiceError> {
        let d: Data<Asset> = self
            .http
            .json(self.auth(Request::get(format!("video/v1/assets/{asset_id}")))?)
            .await?;
        Ok(d.data)
    }

    /// Adds an English subtitles track from an SRT/VTT URL.
    pub async fn add_text_track(&self, asset_id: &str, url: &str, name: &str) -> Result<Track, ServiceError> {
        let body = json!({"url": url, "type": "text", "text_type": "subtitles", "language_code": "en", "name": name, "closed_captions": false});
        let req = Request::post(format!("video/v1/assets/{asset_id}/tracks")).json(body);
        let d: Data<Track> = self.http.json(self.auth(req)?).await?;
        Ok(d.data)
    }

    pub async fn delete_track(&self, asset_id: &str, track_id: &str) -> Result<(), ServiceError> {
        let req = Request::new(
            reqwest::Method::DELETE,
            format!("video/v1/assets/{asset_id}/tracks/{track_id}"),
        );
        self.http.send(self.auth(req)?).await.map(|_| ())
    }
}
