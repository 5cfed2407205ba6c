//! The operator's actions over HTTP on the real daemon in-process, both backends (issue 13): cancel and bulk
//! cancel, rerun and rerun from a step, replay, pause and resume, and the audit of each.

mod audit;
mod cancel;
mod pause;
mod refusals;
mod replay;
mod rerun;

use crate::support::Api;
use ingot_actors::{FunctionDef, Trigger};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// POSTs a JSON body (or none); returns the status and the JSON answer.
pub async fn post(api: &Api, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = api.client().post(format!("{}{path}", api.base));
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    let resp = req.send().await.expect("daemon reachable");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// POSTs and expects 200.
pub async fn post_ok(api: &Api, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = post(api, path, body).await;
    assert_eq!(status, 200, "POST {path}: {answer}");
    answer
}

/// A function that sleeps an hour after one step: its runs stay `sleeping`.
pub fn napper() -> FunctionDef {
    FunctionDef::new("napper", "Napper", |ctx| async move {
        ctx.step.run("before", || async { Ok(1) }).await?;
        ctx.step.sleep("nap", Duration::from_secs(3600)).await?;
        Ok(json!("woke"))
    })
    .trigger(Trigger::event("test/nap"))
}

/// A function that counts its executions.
pub fn counter(id: &str, event: &str, runs: Arc<AtomicUsize>) -> FunctionDef {
    FunctionDef::new(id, id, move |ctx| {
        let runs = runs.clone();
        async move {
            let n = ctx
                .step
                .run("count", || async move { Ok(runs.fetch_add(1, Ordering::SeqCst) + 1) })
                .await?;
            Ok(json!({ "n": n }))
        }
    })
    .trigger(Trigger::event(event))
}

/// The ids of a run's actions, as `action:actor`.
pub fn actions_of(run: &Value) -> Vec<String> {
    run["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| format!("{}:{}", a["action"].as_str().unwrap(), a["actor"].as_str().unwrap()))
        .collect()
}
