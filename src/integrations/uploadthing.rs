//! UploadThing: delete uploaded files once their video is processed.

use super::config::IntegrationsConfig;
use super::http::{HttpService, Request};
use super::{or_placeholder, require};
use crate::config::Secret;
use ingot_actors::service::ServiceError;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Deleted {
    pub success: bool,
    #[serde(rename = "deletedCount")]
    pub deleted_count: u64,
}

#[derive(Clone)]
pub struct UploadThing {
    pub http: HttpService,
    key: Option<Secret>,
    dry_run: bool,
}

impl UploadThing {
    pub fn new(http: HttpService, cfg: &IntegrationsConfig) -> UploadThing {
        UploadThing {
            http,
            key: cfg.uploadthing_secret.clone(),
            dry_run: cfg.dry_run,
        }
    }

    pub async fn delete_files(&self, keys: &[String]) -> Result<Deleted, ServiceError> {
        require(
            "uploadthing",
            self.dry_run,
            &[("UPLOADTHING_SECRET", self.key.is_some())],
        )?;
        let req = Request::post("v6/deleteFiles")
            .secret_header("x-uploadthing-api-key", or_placeholder(&self.key).expose())
            .json(json!({ "fileKeys": keys }));
        self.http.json(req).await
    }
}
