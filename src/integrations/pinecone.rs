//! Pinecone (vector database): query and upsert on the concepts index. The index's data-plane host is a setting
//! (`PINECONE_INDEX_HOST`, the URL the Pinecone console shows for the index); the key is `PINECONE_API_KEY`, sent
//! in the `Api-Key` header. Calls pin the API version (`X-Pinecone-API-Version`).

use super::config::IntegrationsConfig;
use super::http::{HttpService, Request};
use super::{or_placeholder, require};
use crate::config::Secret;
use ingot_actors::service::ServiceError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The data-plane API version every call asks for.
pub const API_VERSION: &str = "2025-01";

/// One query match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Match {
    pub id: String,
    /// Cosine similarity for the concepts index (1 = same direction).
    pub score: f64,
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct QueryAnswer {
    matches: Option<Vec<Match>>,
    #[serde(rename = "dryRun")]
    dry_run: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct UpsertAnswer {
    upserted_count: Option<u64>,
    dry_run: bool,
}

#[derive(Clone)]
pub struct Pinecone {
    pub http: HttpService,
    key: Option<Secret>,
    host_set: bool,
    dry_run: bool,
}

impl Pinecone {
    pub fn new(http: HttpService, cfg: &IntegrationsConfig) -> Pinecone {
        Pinecone {
            http,
            key: cfg.pinecone_api_key.clone(),
            host_set: !cfg.pinecone.base_url.is_empty(),
            dry_run: cfg.dry_run,
        }
    }

    fn req(&self, path: &str) -> Result<Request, ServiceError> {
        require(
            "pinecone",
            self.dry_run,
            &[
                ("PINECONE_API_KEY", self.key.is_some()),
                ("PINECONE_INDEX_HOST", self.host_set),
            ],
        )?;
        Ok(Request::post(path)
            .secret_header("api-key", or_placeholder(&self.key).expose())
            .header("x-pinecone-api-version", API_VERSION))
    }

    fn bad(message: &str) -> ServiceError {
        ServiceError::BadResponse {
            service: "pinecone".into(),
            message: message.into(),
        }
    }

    /// The `top_k` nearest vectors to `vector`, with their metadata.
    pub async fn query(&self, vector: &[f32], top_k: u32) -> Result<Vec<Match>, ServiceError> {
        let req = self.req("query")?.json(json!({
            "vector": vector, "topK": top_k, "includeMetadata": true, "includeValues": false,
        }));
        let a: QueryAnswer = self.http.json(req).await?;
        match a.matches {
            Some(m) => Ok(m),
            None if a.dry_run => Ok(Vec::new()),
            None => Err(Self::bad("no matches in the answer")),
        }
    }

    /// Inserts or replaces one vector; answers the upserted count.
    pub async fn upsert(&self, id: &str, values: &[f32], metadata: Value) -> Result<u64, ServiceError> {
        let req = self
            .req("vectors/upsert")?
            .json(json!({"vectors": [{"id": id, "values": values, "metadata": metadata}]}));
        let a: UpsertAnswer = self.http.json(req).await?;
        match a.upserted_count {
            Some(n) => Ok(n),
            None if a.dry_run => Ok(0),
            None => Err(Self::bad("no upsertedCount in the answer")),
        }
    }
}
