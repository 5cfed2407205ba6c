//! kill -9 while runs wait in the queue for flow control, then restart: a throttled run still respects the
//! throttle period and runs once; a debounced run still starts once, with the last event; a run waiting for a
//! concurrency slot still waits for it; an open batch still becomes one run with every event; a cancelled
//! sleeper never runs another step.

use super::{Bed, in_flight, run, run_of};
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

both!(kill9_while_a_run_waits_for_a_concurrency_slot, limited_impl);
async fn limited_impl(backend: Backend) {
    let bed = Bed::new(backend).await;
    let d = bed.start();
    let a = d.api.send(json!({"name": "crash/limited"})).await;
    let a = run_of(&d.api, &a[0]).await;
    assert_eq!(in_flight(&d, "crash-limited/hold"), a);
    let b = d.api.send(json!({"name": "crash/limited"})).await;
    let b = run_of(&d.api, &b[0]).await;
    d.kill9();
    bed.assert_status(&a, "running").await;
    bed.assert_status(&b, "queued").await;

    // After the restart one run holds the only slot (its gate is shut); the other must still be queued.
    let d = bed.start();
    let first = in_flight(&d, "crash-limited/hold");
    let other = if first == a { &b } else { &a };
    bed.assert_status(&first, "running").await;
    bed.assert_status(other, "queued").await;
    bed.open_gate("hold");
    d.api.drain().await;
    for id in [&a, &b] {
        assert_eq!(run(&d.api, id).await["status"], "completed");
    }
    // `a`'s step was in flight at the kill (never completed), so it ran again; `b`'s ran once.
    assert_eq!(bed.effects(&a, "hold").await, 2);
    assert_eq!(bed.effects(&b, "hold").await, 1);
}

both!(kill9_while_a_batch_is_open, batched_impl);
async fn batched_impl(backend: Backend) {
    let bed = Bed::new(backend).await;
    let d = bed.start();
    let first = d.api.send(json!({"name": "crash/item", "data": {"i": 1}})).await;
    d.api.send(json!({"name": "crash/item", "data": {"i": 2}})).await;
    let batch = run_of(&d.api, &first[0]).await;
    // Two of three events: the batch waits (2 s) for a third when the daemon dies.
    d.kill9();
    bed.assert_status(&batch, "queued").await;

    let d = bed.start();
    d.api.drain_all().await;
    let got = run(&d.api, &batch).await;
    assert_eq!(got["status"], "completed", "{got}");
    assert_eq!(got["output"], json!({"items": [1, 2]}));
    assert_eq!(
        bed.count_runs("crash-batched", "completed").await,
        1,
        "one run for the batch"
    );
    assert_eq!(bed.effects(&batch, "work").await, 1);
}

both!(kill9_after_a_sleeper_was_cancelled, cancelled_impl);
async fn cancelled_impl(backend: Backend) {
    let bed = Bed::new(backend).await;
    let d = bed.start();
    let job = d
        .api
        .send(json!({"name": "crash/job", "data": {"id": "j1", "ms": 1500}}))
        .await;
    let other = d
        .api
        .send(json!({"name": "crash/job", "data": {"id": "j2", "ms": 1500}}))
        .await;
    d.api.drain().await;
    let (job, other) = (run_of(&d.api, &job[0]).await, run_of(&d.api, &other[0]).await);
    bed.assert_status(&job, "sleeping").await;
    d.api
        .send(json!({"name": "crash/job-cancelled", "data": {"id": "j1"}}))
        .await;
    // The cancellation is committed with the event, before the 200.
    d.kill9();
    bed.assert_status(&job, "cancelled").await;

    // The restarted daemon wakes the other sleeper; the cancelled one never runs `after`.
    let d = bed.start();
    d.api.drain_all().await;
    assert_eq!(run(&d.api, &job).await["status"], "cancelled");
    assert_eq!(run(&d.api, &other).await["status"], "completed");
    assert_eq!(bed.effects(&job, "before").await, 1);
    assert_eq!(bed.effects(&job, "after").await, 0);
    assert_eq!(bed.effects(&other, "after").await, 1);
}
