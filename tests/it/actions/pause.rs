//! Pause and resume: a paused function's runs are created but held (not claimed) until it is resumed, across
//! a restart; then they run.

use super::{counter, post, post_ok};
use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn listed(functions: &Value, id: &str) -> Value {
    functions["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .cloned()
        .expect("function listed")
}

both!(a_paused_function_holds_its_runs_until_resumed, pause_impl);
async fn pause_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (held_runs, other_runs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let functions = || {
        vec![
            counter("held", "test/held", held_runs.clone()),
            counter("free", "test/free", other_runs.clone()),
        ]
    };
    let d = InProc::start(&db.url, functions(), &[]).await;
    let answer = post_ok(&d.api, "/api/v1/functions/held/pause", None).await;
    assert_eq!(answer["paused"], true);
    let (status, body) = post(&d.api, "/api/v1/functions/held/pause", None).await;
    assert_eq!(status, 409, "{body}");
    let fs = d.api.get_ok("/api/v1/functions").await;
    assert_eq!(listed(&fs, "held")["paused"], true, "{fs}");
    assert_eq!(listed(&fs, "held")["paused_by"], "admin-token");
    assert_eq!(listed(&fs, "free")["paused"], false);

    let ids = d
        .api
        .send(json!([{"name": "test/held"}, {"name": "test/held"}, {"name": "test/free"}]))
        .await;
    // Drain waits for the other function's run; held runs are not work to wait for. Had the pool claimed
    // them, drain would have waited for them to finish and the counter would show it.
    d.api.drain().await;
    assert_eq!(other_runs.load(Ordering::SeqCst), 1);
    assert_eq!(held_runs.load(Ordering::SeqCst), 0);
    for id in &ids[..2] {
        let run = d.api.only_run(id).await;
        assert_eq!(run["status"], "queued", "{run}");
        assert!(run["started_at"].is_null(), "{run}");
    }

    // Paused survives a restart.
    d.stop().await;
    let d = InProc::start(&db.url, functions(), &[("node_id", "second-life")]).await;
    d.api.drain().await;
    assert_eq!(held_runs.load(Ordering::SeqCst), 0);
    assert_eq!(listed(&d.api.get_ok("/api/v1/functions").await, "held")["paused"], true);

    post_ok(&d.api, "/api/v1/functions/held/resume", None).await;
    d.api.drain().await;
    assert_eq!(held_runs.load(Ordering::SeqCst), 2);
    for id in &ids[..2] {
        assert_eq!(d.api.only_run(id).await["status"], "completed");
    }
    let (status, body) = post(&d.api, "/api/v1/functions/held/resume", None).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = post(&d.api, "/api/v1/functions/no-such-function/pause", None).await;
    assert_eq!(status, 404);
    assert_eq!(
        listed(&d.api.get_ok("/api/v1/functions").await, "held")["paused"],
        false
    );
    let history = d.api.get_ok("/api/v1/actions?function=held").await;
    let kinds: Vec<_> = history["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["resume", "pause"]);
    d.stop().await;
}
