//! Cancel one run, and bulk-cancel sleeping runs by filter.

use super::{actions_of, napper, post, post_ok};
use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use serde_json::json;

both!(bulk_cancel_stops_the_sleeping_runs_it_selects, bulk_cancel_impl);
async fn bulk_cancel_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = InProc::start(&db.url, vec![napper()], &[]).await;
    let events: Vec<_> = (0..5).map(|i| json!({"name": "test/nap", "data": {"i": i}})).collect();
    d.api.send(json!(events)).await;
    d.api.drain().await;
    let runs = d.api.runs_of_function("napper").await;
    assert_eq!(runs.len(), 5);
    assert!(runs.iter().all(|r| r["status"] == "sleeping"), "{runs:?}");
    // One more, from an event the filter does not select.
    let other = d.api.send(json!({"name": "test/nap", "data": {"i": 9}})).await;
    d.api.drain().await;
    db.exec(
        "UPDATE runs SET created_at = created_at - 3600000 WHERE event_id = $1",
        &[other[0].as_str()],
    )
    .await;
    let since = ingot_actors::time::now_ms() - 600_000;
    let answer = post_ok(
        &d.api,
        "/api/v1/runs/cancel",
        Some(json!({"function": "napper", "status": "sleeping", "event": "test/nap", "from": since})),
    )
    .await;
    assert_eq!(answer["cancelled"], 5, "{answer}");
    let runs = d.api.runs_of_function("napper").await;
    let cancelled: Vec<_> = runs.iter().filter(|r| r["status"] == "cancelled").collect();
    assert_eq!(cancelled.len(), 5, "{runs:?}");
    for r in &cancelled {
        assert_eq!(actions_of(r), ["bulk_cancel:admin-token"], "{r}");
        assert_eq!(r["steps"].as_array().unwrap().len(), 2, "no step after the cancel: {r}");
    }
    assert_eq!(d.api.only_run(&other[0]).await["status"], "sleeping");
    // Nothing left to cancel: 0, and the action is still recorded.
    let again = post_ok(
        &d.api,
        "/api/v1/runs/cancel",
        Some(json!({"function": "napper", "status": ["sleeping", "queued"], "from": since})),
    )
    .await;
    assert_eq!(again["cancelled"], 0, "{again}");
    let listed = d.api.get_ok("/api/v1/actions?function=napper").await;
    let results: Vec<_> = listed["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["action"].clone(), a["result"]["cancelled"].clone()))
        .collect();
    assert_eq!(
        results,
        [(json!("bulk_cancel"), json!(0)), (json!("bulk_cancel"), json!(5))]
    );
    // No wake-up is lost on the way: the cancelled runs' notifications are delivered.
    d.api.drain().await;
    d.stop().await;
}

both!(cancel_records_the_action_and_refuses_a_finished_run, cancel_one_impl);
async fn cancel_one_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = InProc::start(&db.url, vec![napper()], &[]).await;
    let ids = d.api.send(json!({"name": "test/nap"})).await;
    d.api.drain().await;
    let run_id = d.api.only_run(&ids[0]).await["id"].as_str().unwrap().to_string();
    let answer = post_ok(&d.api, &format!("/api/v1/runs/{run_id}/cancel"), None).await;
    assert_eq!(answer["status"], "cancelled");
    let (status, body) = post(&d.api, &format!("/api/v1/runs/{run_id}/cancel"), None).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = post(&d.api, "/api/v1/runs/no-such-run/cancel", None).await;
    assert_eq!(status, 404);
    let run = d.api.run(&run_id).await;
    assert_eq!(run["status"], "cancelled");
    // Only the cancel that changed something is recorded.
    assert_eq!(actions_of(&run), ["cancel:admin-token"], "{run}");
    assert_eq!(run["actions"][0]["run_id"], run_id.as_str());
    d.stop().await;
}
