//! kill -9 while runs wait in the queue for flow control, then restart: a throttled run still respects the
//! throttle period and runs once; a debounced run still starts once, with the last event.

use super::{Bed, run, run_of};
use crate::both;
use crate::support::Backend;
use serde_json::json;

fn started_ms(run: &serde_json::Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(run["started_at"].as_str().expect("started"))
        .expect("rfc3339")
        .timestamp_millis()
}

both!(kill9_while_a_run_is_throttled, throttled_impl);
async fn throttled_impl(backend: Backend) {
    let bed = Bed::new(backend).await;
    let d = bed.start();
    let first = d.api.send(json!({"name": "crash/throttle"})).await;
    d.api.drain().await;
    let first = run_of(&d.api, &first[0]).await;
    let second = d.api.send(json!({"name": "crash/throttle"})).await;
    let second = run_of(&d.api, &second[0]).await;
    // The second start is throttled for 3 s after the first: it is still queued when the daemon dies.
    d.kill9();
    bed.assert_status(&second, "queued").await;

    let d = bed.start();
    d.api.drain().await;
    let (a, b) = (run(&d.api, &first).await, run(&d.api, &second).await);
    assert_eq!(b["status"], "completed", "{b}");
    assert!(
        started_ms(&b) - started_ms(&a) >= 3000,
        "the restart did not respect the throttle: {} then {}",
        a["started_at"],
        b["started_at"]
    );
    assert_eq!(bed.effects(&first, "work").await, 1);
    assert_eq!(bed.effects(&second, "work").await, 1);
}

both!(kill9_while_a_run_is_debounced, debounced_impl);
async fn debounced_impl(backend: Backend) {
    let bed = Bed::new(backend).await;
    let d = bed.start();
    d.api
        .send(json!({"name": "crash/edit", "data": {"doc": "a", "v": 1}}))
        .await;
    let last = d
        .api
        .send(json!({"name": "crash/edit", "data": {"doc": "a", "v": 2}}))
        .await;
    let pending = run_of(&d.api, &last[0]).await;
    // Acknowledged means stored: the pending run (due 2 s after the last event) survives the kill.
    d.kill9();
    bed.assert_status(&pending, "queued").await;

    let d = bed.start();
    d.api.drain().await;
    let got = run(&d.api, &pending).await;
    assert_eq!(got["status"], "completed", "{got}");
    assert_eq!(got["output"], json!({"doc": "a", "v": 2}));
    assert_eq!(
        bed.count_runs("crash-debounced", "completed").await,
        1,
        "one run for both events"
    );
    assert_eq!(bed.effects(&pending, "work").await, 1);
}
