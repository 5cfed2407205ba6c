//! Replay the events of a time range to one function: its trigger condition is evaluated again, events outside
//! the range (or of another name) are left alone.

use super::post_ok;
use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot_actors::{FunctionDef, Trigger};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn picky(runs: Arc<AtomicUsize>) -> FunctionDef {
    FunctionDef::new("picky", "Picky", move |ctx| {
        let runs = runs.clone();
        async move {
            let n = ctx.event["data"]["n"].clone();
            ctx.step
                .run("count", || async move { Ok(runs.fetch_add(1, Ordering::SeqCst)) })
                .await?;
            Ok(json!({ "n": n }))
        }
    })
    .trigger(Trigger::event_if("test/replay", "event.data.n > 1"))
}

both!(a_replay_starts_one_run_per_matching_event_of_the_range, replay_impl);
async fn replay_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let d = InProc::start(&db.url, vec![picky(runs.clone())], &[]).await;
    let old = d.api.send(json!({"name": "test/replay", "data": {"n": 5}})).await;
    let ids = d
        .api
        .send(
            json!([{"name": "test/replay", "data": {"n": 2}}, {"name": "test/replay", "data": {"n": 1}},
            {"name": "test/other", "data": {"n": 7}}]),
        )
        .await;
    d.api.drain().await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    // The first event was received two hours ago: outside the range.
    db.exec(
        "UPDATE events SET received_at = received_at - 7200000 WHERE id = $1",
        &[old[0].as_str()],
    )
    .await;
    let now = ingot_actors::time::now_ms();
    let answer = post_ok(
        &d.api,
        "/api/v1/functions/picky/replay",
        Some(json!({"from": now - 3_600_000, "to": ingot_actors::time::rfc3339(now)})),
    )
    .await;
    assert_eq!(answer["events"], 2, "{answer}");
    assert_eq!(answer["runs_created"], 1, "{answer}");
    assert_eq!(answer["not_matched"], 1, "{answer}");
    d.api.drain().await;
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    let new_run = d.api.run(answer["run_ids"][0].as_str().unwrap()).await;
    assert_eq!(new_run["status"], "completed", "{new_run}");
    assert_eq!(new_run["event_id"], ids[0].as_str());
    assert_eq!(new_run["output"], json!({"n": 2}));
    assert_eq!(new_run["actions"][0]["action"], "replay");
    assert_eq!(d.api.runs_of(&ids[0]).await.len(), 2);
    // `event` narrows to one trigger name; a name the function does not listen to is refused.
    let (status, body) = super::post(
        &d.api,
        "/api/v1/functions/picky/replay",
        Some(json!({"from": 0, "to": now, "event": "test/other"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let all = post_ok(
        &d.api,
        "/api/v1/functions/picky/replay",
        Some(json!({"from": 0, "to": now, "event": "test/replay"})),
    )
    .await;
    assert_eq!(
        (all["events"].clone(), all["runs_created"].clone()),
        (json!(3), json!(2))
    );
    d.api.drain().await;
    assert_eq!(runs.load(Ordering::SeqCst), 5);
    d.stop().await;
}
