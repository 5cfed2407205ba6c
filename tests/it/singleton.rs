//! Singleton flow control on the real daemon in-process, both backends: at most one unfinished run per key; a new
//! run is skipped (`skip`, recorded on its event with the run holding the key) or replaces the unfinished one
//! (`cancel`). The holders wait for an event, so they stay unfinished until the test releases them.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot_actors::flow::SingletonMode;
use ingot_actors::{FunctionDef, Trigger, WaitFor};
use serde_json::{Value, json};
use std::time::Duration;

/// A function whose runs wait (unfinished) for `test/release` with their `doc`, then return their `v`.
fn holder(id: &str, trigger: &str, mode: SingletonMode) -> FunctionDef {
    FunctionDef::new(id, id, |ctx| async move {
        let wait = WaitFor {
            event: "test/release",
            if_expr: Some("async.data.doc == event.data.doc"),
            timeout: Duration::from_secs(3600),
        };
        ctx.step.wait_for_event("release", wait).await?;
        Ok(ctx.event["data"]["v"].clone())
    })
    .trigger(Trigger::event(trigger))
    .singleton(Some("event.data.doc"), mode)
}

fn skipped(ev: &Value) -> Vec<(String, Option<String>)> {
    ev["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["reason"].as_str().unwrap().to_string(),
                s["existing_run_id"].as_str().map(str::to_string),
            )
        })
        .collect()
}

both!(singleton_skip_drops_new_runs_while_one_is_unfinished, skip_impl);
async fn skip_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let f = holder("single", "test/index", SingletonMode::Skip);
    let d = InProc::start(&db.url, vec![f], &[]).await;
    let first = d
        .api
        .send(json!({"name": "test/index", "data": {"doc": "a", "v": 1}}))
        .await;
    d.api.drain().await;
    let holder_run = d.api.only_run(&first[0]).await;
    assert_eq!(holder_run["status"], "waiting");
    let holder_id = holder_run["id"].as_str().unwrap().to_string();

    // Same key: skipped, and the event names the run holding the key. Another key runs.
    let again = d
        .api
        .send(json!({"name": "test/index", "data": {"doc": "a", "v": 2}}))
        .await;
    let other = d
        .api
        .send(json!({"name": "test/index", "data": {"doc": "b", "v": 3}}))
        .await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(skipped(&ev), [("singleton".to_string(), Some(holder_id.clone()))]);
    assert!(ev["run_ids"].as_array().unwrap().is_empty());
    assert_eq!(d.api.runs_of(&other[0]).await.len(), 1, "another key has its own slot");

    // Two events of a new key in one request: the first run holds the key, the second is skipped.
    let pair = d
        .api
        .send(json!([{"name": "test/index", "data": {"doc": "c", "v": 4}}, {"name": "test/index", "data": {"doc": "c", "v": 5}}]))
        .await;
    let c_run = d.api.only_run(&pair[0]).await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", pair[1])).await;
    assert_eq!(
        skipped(&ev),
        [("singleton".to_string(), c_run["id"].as_str().map(str::to_string))]
    );

    // Once the holder finishes, the key is free again.
    d.api.send(json!({"name": "test/release", "data": {"doc": "a"}})).await;
    d.api.drain().await;
    assert_eq!(d.api.run(&holder_id).await["status"], "completed");
    let later = d
        .api
        .send(json!({"name": "test/index", "data": {"doc": "a", "v": 6}}))
        .await;
    assert_eq!(d.api.runs_of(&later[0]).await.len(), 1, "a finished run frees its key");
    assert_eq!(d.api.runs_of_function("single").await.len(), 4);
    d.stop().await;
}

both!(singleton_skip_holds_under_concurrent_requests, concurrent_impl);
async fn concurrent_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let f = holder("single", "test/index", SingletonMode::Skip);
    let d = InProc::start(&db.url, vec![f], &[]).await;
    // Separate requests at once (separate intake transactions): only one may find the key free.
    let sends = (0..8).map(|v| d.api.send(json!({"name": "test/index", "data": {"doc": "a", "v": v}})));
    let ids: Vec<String> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(ids.len(), 8);
    let runs = d.api.runs_of_function("single").await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let mut skips = 0;
    for id in &ids {
        let ev = d.api.get_ok(&format!("/api/v1/events/{id}")).await;
        skips += skipped(&ev).len();
    }
    assert_eq!(skips, 7);
    d.stop().await;
}

both!(singleton_cancel_replaces_the_unfinished_run, cancel_impl);
async fn cancel_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let f = holder("latest", "test/render", SingletonMode::Cancel);
    let d = InProc::start(&db.url, vec![f], &[]).await;
    let first = d
        .api
        .send(json!({"name": "test/render", "data": {"doc": "a", "v": 1}}))
        .await;
    let other = d
        .api
        .send(json!({"name": "test/render", "data": {"doc": "b", "v": 2}}))
        .await;
    d.api.drain().await;
    let old = d.api.only_run(&first[0]).await;
    assert_eq!(old["status"], "waiting");

    let second = d
        .api
        .send(json!({"name": "test/render", "data": {"doc": "a", "v": 3}}))
        .await;
    d.api.drain().await;
    let old = d.api.run(old["id"].as_str().unwrap()).await;
    assert_eq!(old["status"], "cancelled", "{old}");
    assert!(old["error"]["message"].as_str().unwrap().contains("singleton"), "{old}");
    assert_eq!(d.api.only_run(&second[0]).await["status"], "waiting");
    assert_eq!(
        d.api.only_run(&other[0]).await["status"],
        "waiting",
        "another key is left alone"
    );

    // Several of one key in one request: the last one wins.
    let burst = d
        .api
        .send(json!([{"name": "test/render", "data": {"doc": "c", "v": 4}}, {"name": "test/render", "data": {"doc": "c", "v": 5}}]))
        .await;
    d.api.drain().await;
    assert_eq!(d.api.only_run(&burst[0]).await["status"], "cancelled");
    assert_eq!(d.api.only_run(&burst[1]).await["status"], "waiting");

    // The replacement runs to the end with its own event.
    d.api.send(json!({"name": "test/release", "data": {"doc": "a"}})).await;
    d.api.drain().await;
    let done = d.api.only_run(&second[0]).await;
    assert_eq!(
        (done["status"].clone(), done["output"].clone()),
        (json!("completed"), json!(3))
    );
    d.stop().await;
}
