//! `get-or-create-concept` — find a concept (a tag) by meaning, creating it when it is new (reference §3.11
//! `getOrCreateConcept`).
//!
//! Triggers `concept/tags-requested` `{text}` and the original `concepts/tags-requested-event` `{key}`; the
//! concept's key is the text, trimmed (empty: non-retriable). Steps:
//! 1. "check for similar concepts" — the key's OpenAI embedding (`text-embedding-3-small`, floats), then a
//!    Pinecone query on the concepts index (top 5, with metadata). An empty embedding (outside a dry run) is a bad
//!    answer and retries.
//! 2. "create new concept" — only when no match has the key as its id: upserts `{id: key, values: embedding,
//!    metadata: {aliases: []}}`.
//!
//! Decisions where the original is defective (reference §9.4): it kept matches whose cosine score was *below* 0.2
//! (the least similar) and upserted every time. Here the related concepts are the other matches with a cosine
//! similarity of at least [`RELATED_SCORE`], and a concept that already exists (same id) is returned, not written
//! again. Returns `{new_concept: key | null, existing: bool, related_concepts: [{id, score, metadata}]}`. Emits
//! nothing (the selection events are unimplemented in the original too). A re-run upserts the same vector: no
//! duplicate.

use crate::functions::{Deps, event_triggers};
use crate::integrations::pinecone::Match;
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const ID: &str = "get-or-create-concept";
pub const EVENT: &str = "concept/tags-requested";
/// Matches at least this similar (cosine) are related concepts.
pub const RELATED_SCORE: f64 = 0.8;
pub const TOP_K: u32 = 5;

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Get Or Create Concept", move |ctx| run(deps.clone(), ctx));
    for t in event_triggers(EVENT, None) {
        def = def.trigger(t);
    }
    def.summary("Embeds a concept's text with OpenAI, looks for similar concepts in Pinecone and stores it there when it is new.")
        .services(&["openai", "pinecone"])
        .emits(&[])
}

#[derive(Debug, Serialize, Deserialize)]
struct Similar {
    embedding: Vec<f32>,
    matches: Vec<Match>,
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let data = &ctx.event["data"];
    let key = data["text"]
        .as_str()
        .or_else(|| data["key"].as_str())
        .unwrap_or_default()
        .trim()
        .to_string();
    if key.is_empty() {
        return Err(StepError::fatal("no concept text (data.text or data.key)").into());
    }
    let (openai, pinecone) = (&deps.integrations.openai, &deps.integrations.pinecone);
    let dry_run = deps.config.integrations.dry_run;
    let similar: Similar = ctx
        .step
        .run("check for similar concepts", || async {
            let embedding = openai.embedding(&key).await?;
            if embedding.is_empty() && !dry_run {
                return Err(StepError::retryable("OpenAI answered no embedding"));
            }
            let matches = pinecone.query(&embedding, TOP_K).await?;
            Ok(Similar { embedding, matches })
        })
        .await?;

    let existing = similar.matches.iter().any(|m| m.id == key);
    if !existing {
        ctx.step
            .run("create new concept", || async {
                let n = pinecone
                    .upsert(&key, &similar.embedding, json!({"aliases": []}))
                    .await?;
                Ok(json!({"upserted": n}))
            })
            .await
            .map(|_: Value| ())?;
    }
    let related: Vec<&Match> = similar
        .matches
        .iter()
        .filter(|m| m.id != key && m.score >= RELATED_SCORE)
        .collect();
    Ok(json!({
        "new_concept": if existing { Value::Null } else { json!(key) },
        "existing": existing,
        "related_concepts": related,
    }))
}
