//! Flow control on the real daemon in-process, both backends: concurrency (per key), throttle, rate limit,
//! debounce, cancel_on, timeouts, priority and cron triggers (once across two daemons).

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot_actors::{FunctionDef, StepError, Trigger};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

fn skips(ev: &Value) -> Vec<String> {
    ev["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap().to_string())
        .collect()
}

both!(concurrency_keys_limit_each_key_not_others, concurrency_impl);
async fn concurrency_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let inflight: Arc<Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
    let worst = Arc::new(AtomicUsize::new(0));
    // Runs of different users meet at this barrier: with the per-key limit they still run side by side.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let (i, w, b) = (inflight.clone(), worst.clone(), barrier.clone());
    let f = FunctionDef::new("per-user", "Per user", move |ctx| {
        let (i, w, b) = (i.clone(), w.clone(), b.clone());
        async move {
            let user = ctx.event["data"]["user"].as_str().unwrap_or_default().to_string();
            let first = ctx.event["data"]["first"].as_bool().unwrap_or(false);
            ctx.step
                .run("work", || async move {
                    let n = {
                        let mut m = i.lock().unwrap();
                        let n = m.entry(user.clone()).or_default();
                        *n += 1;
                        *n
                    };
                    w.fetch_max(n, Ordering::SeqCst);
                    if first {
                        b.wait().await;
                    }
                    tokio::time::sleep(Duration::from_millis(30)).await; // the work itself
                    *i.lock().unwrap().get_mut(&user).unwrap() -= 1;
                    Ok::<_, StepError>(())
                })
                .await?;
            Ok(Value::Null)
        }
    })
    .trigger(Trigger::event("test/work"))
    .concurrency(1, Some("event.data.user"));
    let d = InProc::start(&db.url, vec![f], &[]).await;
    let mut events = vec![
        json!({"name": "test/work", "data": {"user": "u1", "first": true}}),
        json!({"name": "test/work", "data": {"user": "u2", "first": true}}),
    ];
    for _ in 0..4 {
        events.push(json!({"name": "test/work", "data": {"user": "u1"}}));
        events.push(json!({"name": "test/work", "data": {"user": "u2"}}));
    }
    d.api.send(Value::Array(events)).await;
    d.api.drain().await;
    assert_eq!(worst.load(Ordering::SeqCst), 1, "never two runs of one user at once");
    let runs = d.api.runs_of_function("per-user").await;
    assert!(runs.iter().all(|r| r["status"] == "completed"), "{runs:?}");
    assert_eq!(runs.len(), 10);
    d.stop().await;
}

both!(throttle_spaces_run_starts, throttle_impl);
async fn throttle_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let f = FunctionDef::new("throttled", "Throttled", |_ctx| async move { Ok(Value::Null) })
        .trigger(Trigger::event("test/throttle"))
        .throttle(1, Duration::from_secs(1), 0, None);
    let d = InProc::start(&db.url, vec![f], &[]).await;
    d.api
        .send(json!([{"name": "test/throttle"}, {"name": "test/throttle"}, {"name": "test/throttle"}]))
        .await;
    d.api.drain().await;
    let mut started: Vec<i64> = d
        .api
        .runs_of_function("throttled")
        .await
        .iter()
        .map(|r| {
            chrono::DateTime::parse_from_rfc3339(r["started_at"].as_str().unwrap())
                .unwrap()
                .timestamp_millis()
        })
        .collect();
    started.sort();
    assert_eq!(started.len(), 3);
    for pair in started.windows(2) {
        assert!(
            pair[1] - pair[0] >= 1000,
            "starts {started:?} closer than the throttle period"
        );
    }
    d.stop().await;
}

both!(rate_limit_skips_excess_events_and_records_them, rate_limit_impl);
async fn rate_limit_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let f = FunctionDef::new("limited", "Limited", |_ctx| async move { Ok(Value::Null) })
        .trigger(Trigger::event("test/chat"))
        .rate_limit(2, Duration::from_secs(60), Some("event.user.id"));
    let d = InProc::start(&db.url, vec![f], &[]).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.extend(d.api.send(json!({"name": "test/chat", "user": {"id": "u1"}})).await);
    }
    let other = d.api.send(json!({"name": "test/chat", "user": {"id": "u2"}})).await;
    d.api.drain().await;
    assert_eq!(d.api.runs_of_function("limited").await.len(), 3);
    let last = d.api.get_ok(&format!("/api/v1/events/{}", ids[3])).await;
    assert_eq!(skips(&last), ["rate_limit"]);
    assert!(last["run_ids"].as_array().unwrap().is_empty());
    assert_eq!(
        d.api.runs_of(&other[0]).await.len(),
        1,
        "another key has its own window"
    );
    d.stop().await;
}

both!(debounce_runs_once_with_the_last_event, debounce_impl);
async fn debounce_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let f = FunctionDef::new(
        "debounced",
        "Debounced",
        |ctx| async move { Ok(ctx.event["data"].clone()) },
    )
    .trigger(Trigger::event("test/edit"))
    .debounce(Duration::from_secs(1), Some("event.data.doc"), None);
    let d = InProc::start(&db.url, vec![f], &[]).await;
    let first = d
        .api
        .send(json!({"name": "test/edit", "data": {"doc": "a", "v": 1}}))
        .await;
    d.api
        .send(json!({"name": "test/edit", "data": {"doc": "a", "v": 2}}))
        .await;
    d.api.send(json!([{"name": "test/edit", "data": {"doc": "a", "v": 3}}, {"name": "test/edit", "data": {"doc": "b", "v": 9}}])).await;
    d.api.drain().await;
    let runs = d.api.runs_of_function("debounced").await;
    let mut outputs: Vec<Value> = runs.iter().map(|r| r["output"].clone()).collect();
    outputs.sort_by_key(|o| o["doc"].as_str().unwrap_or_default().to_string());
    assert_eq!(outputs, [json!({"doc": "a", "v": 3}), json!({"doc": "b", "v": 9})]);
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", first[0])).await;
    assert_eq!(skips(&ev), ["debounced"]);
    d.stop().await;
}

// Debounce's `timeout` (maxWait): events keep arriving, each within the period of the last, across requests; the
// intake is given its clock, so the test decides when each event arrives. The pending run is pushed back by each
// event but never past `timeout` after the first event of its window, then runs once with the newest event.
both!(
    debounce_starts_by_max_wait_while_events_keep_coming,
    debounce_max_wait_impl
);
async fn debounce_max_wait_impl(backend: Backend) {
    use ingot::store::events::ingest;
    use ingot_actors::event::{Draft, Origin, Target, prepare};
    use ingot_actors::flow::Flow;
    let db = TestDb::new(backend).await;
    let def = || {
        FunctionDef::new(
            "debounced",
            "Debounced",
            |ctx| async move { Ok(ctx.event["data"].clone()) },
        )
        .trigger(Trigger::event("test/edit"))
        .debounce(
            Duration::from_secs(1),
            Some("event.data.doc"),
            Some(Duration::from_secs(3)),
        )
    };
    let flow = Flow::compile(def().flow).unwrap();
    let t0 = ingot_actors::time::now_ms() - 60_000;
    let run_at = || db.count("SELECT run_at AS n FROM runs WHERE function_id = $1", &["debounced"]);
    let runs = || db.count("SELECT COUNT(*) AS n FROM runs", &[]);
    // One event every 800 ms, each within the 1 s period of the one before.
    for (i, dt) in [0i64, 800, 1600, 2400, 3200].into_iter().enumerate() {
        let data = json!({"doc": "a", "v": i});
        let draft = Draft {
            ts: Some(t0 + dt),
            ..Draft::new("test/edit", data)
        };
        let target = Target::Function {
            function_id: "debounced",
            flow: Some(&flow),
            run_id: None,
            parent: None,
        };
        let event = prepare(draft, Origin::Producer, target, t0 + dt).unwrap();
        ingest(&db.db, &[event], t0 + dt).await.unwrap();
        assert_eq!(runs().await, 1, "one pending run per key");
        // Pushed back to `period` after this event, capped at `timeout` after the first.
        let expected = (t0 + dt + 1000).min(t0 + 3000);
        assert_eq!(run_at().await, expected, "after the event at +{dt} ms");
    }
    // Without the cap the run would still be pushed back (to +4200 ms): it is due at +3000 ms.
    let d = InProc::start(&db.url, vec![def()], &[]).await;
    d.api.drain().await;
    let done = d.api.runs_of_function("debounced").await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["status"], "completed");
    assert_eq!(done[0]["output"], json!({"doc": "a", "v": 4}), "the newest event");
    d.stop().await;
}

both!(cancel_on_cancels_only_the_matching_run, cancel_on_impl);
async fn cancel_on_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let f = FunctionDef::new("reminder", "Reminder", |ctx| async move {
        ctx.step.sleep("wait a day", Duration::from_secs(86_400)).await?;
        Ok(Value::Null)
    })
    .trigger(Trigger::event("test/remind"))
    .cancel_on("test/unsubscribe", Some("async.data.user == event.data.user"), None);
    let d = InProc::start(&db.url, vec![f], &[]).await;
    let a = d.api.send(json!({"name": "test/remind", "data": {"user": "a"}})).await;
    let b = d.api.send(json!({"name": "test/remind", "data": {"user": "b"}})).await;
    d.api.drain().await;
    d.api
        .send(json!({"name": "test/unsubscribe", "data": {"user": "a"}}))
        .await;
    d.api.drain().await;
    assert_eq!(d.api.runs_of(&a[0]).await[0]["status"], "cancelled");
    assert_eq!(d.api.runs_of(&b[0]).await[0]["status"], "sleeping");
    d.stop().await;
}

both!(timeouts_cancel_late_runs, timeouts_impl);
async fn timeouts_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let f = FunctionDef::new("bounded", "Bounded", |ctx| async move {
        ctx.step.sleep("long", Duration::from_secs(3600)).await?;
        Ok(Value::Null)
    })
    .trigger(Trigger::event("test/bounded"))
    .timeouts(Some(Duration::from_secs(1)), Some(Duration::from_secs(1)));
    let d = InProc::start(&db.url, vec![f], &[]).await;
    let running = d.api.send(json!({"name": "test/bounded"})).await;
    // Its `ts` holds it in the queue past the start timeout.
    let ts = ingot_actors::time::now_ms() + 1500;
    let late = d.api.send(json!({"name": "test/bounded", "ts": ts})).await;
    d.api.drain_all().await;
    let run = &d.api.runs_of(&running[0]).await[0];
    assert_eq!(run["status"], "cancelled", "{run}");
    assert!(run["error"]["message"].as_str().unwrap().contains("timeouts.finish"));
    let run = &d.api.runs_of(&late[0]).await[0];
    assert_eq!(run["status"], "cancelled", "{run}");
    assert!(run["error"]["message"].as_str().unwrap().contains("timeouts.start"));
    assert!(run["steps"].as_array().unwrap().is_empty(), "no step ran");
    d.stop().await;
}

both!(priority_orders_the_backlog, priority_impl);
async fn priority_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let order: Arc<Mutex<Vec<String>>> = Arc::default();
    let gate = Arc::new(Notify::new());
    let entered = Arc::new(Notify::new());
    let (o, g, e) = (order.clone(), gate.clone(), entered.clone());
    let f = FunctionDef::new("prioritized", "Prioritized", move |ctx| {
        let (o, g, e) = (o.clone(), g.clone(), e.clone());
        async move {
            let name = ctx.event["data"]["name"].as_str().unwrap_or_default().to_string();
            if name == "blocker" {
                e.notify_one();
                g.notified().await;
            }
            o.lock().unwrap().push(name);
            Ok(Value::Null)
        }
    })
    .trigger(Trigger::event("test/prio"))
    .concurrency(1, None)
    .priority("event.data.vip ? 60 : 0");
    let d = InProc::start(&db.url, vec![f], &[]).await;
    d.api
        .send(json!({"name": "test/prio", "data": {"name": "blocker"}}))
        .await;
    entered.notified().await;
    d.api
        .send(json!({"name": "test/prio", "data": {"name": "plain"}}))
        .await;
    d.api
        .send(json!({"name": "test/prio", "data": {"name": "vip", "vip": true}}))
        .await;
    gate.notify_one();
    d.api.drain().await;
    assert_eq!(*order.lock().unwrap(), ["blocker", "vip", "plain"]);
    d.stop().await;
}

both!(a_cron_tick_fires_once_across_daemons, cron_impl);
async fn cron_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fired = Arc::new(AtomicUsize::new(0));
    let ticked = Arc::new(Notify::new());
    let def = |fired: Arc<AtomicUsize>, ticked: Arc<Notify>| {
        FunctionDef::new("every-second", "Every second", move |ctx| {
            let (fired, ticked) = (fired.clone(), ticked.clone());
            async move {
                assert_eq!(ctx.event["name"], "inngest/scheduled.timer");
                fired.fetch_add(1, Ordering::SeqCst);
                ticked.notify_one();
                Ok(ctx.event["data"].clone())
            }
        })
        .trigger(Trigger::cron("TZ=America/Los_Angeles * * * * * *"))
    };
    let a = InProc::start(&db.url, vec![def(fired.clone(), ticked.clone())], &[("node_id", "a")]).await;
    let b = InProc::start(&db.url, vec![def(fired.clone(), ticked.clone())], &[("node_id", "b")]).await;
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(10), ticked.notified())
            .await
            .expect("a cron tick");
    }
    a.stop().await;
    b.stop().await;
    let ticks = db.count("SELECT COUNT(*) AS n FROM cron_ticks", &[]).await;
    let runs = db
        .count("SELECT COUNT(*) AS n FROM runs WHERE function_id = 'every-second'", &[])
        .await;
    assert!(ticks >= 3, "{ticks} ticks");
    assert_eq!(runs, ticks, "one run per tick, although two daemons run the schedule");
    assert!(fired.load(Ordering::SeqCst) as i64 <= ticks);
}

both!(batch_events_collect_events_into_one_run, batch_impl);
async fn batch_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let f = FunctionDef::new("batched", "Batched", |ctx| async move {
        let n: Vec<Value> = ctx.events.iter().map(|e| e["data"]["n"].clone()).collect();
        Ok(json!({ "user": ctx.event["data"]["user"], "n": n }))
    })
    .trigger(Trigger::event("test/item"))
    .batch_events(3, Duration::from_secs(1), Some("event.data.user"));
    let d = InProc::start(&db.url, vec![f], &[]).await;
    let item = |user: &str, n: u32| json!({"name": "test/item", "data": {"user": user, "n": n}});
    let first = d.api.send(json!([item("u1", 1), item("u1", 2)])).await;
    d.api.send(json!([item("u2", 9), item("u1", 3), item("u1", 4)])).await;
    d.api.drain().await;
    let mut outputs: Vec<Value> = d
        .api
        .runs_of_function("batched")
        .await
        .iter()
        .map(|r| r["output"].clone())
        .collect();
    outputs.sort_by_key(|o| o.to_string());
    assert_eq!(
        outputs,
        [
            json!({"user": "u1", "n": [1, 2, 3]}),
            json!({"user": "u1", "n": [4]}),
            json!({"user": "u2", "n": [9]}),
        ]
    );
    let second = d.api.get_ok(&format!("/api/v1/events/{}", first[1])).await;
    assert_eq!(skips(&second), ["batched"], "{second}");
    d.stop().await;
}
