//! The durable step tools on the real daemon in-process, both backends: sleep (and waking after a restart),
//! wait_for_event (match, timeout, look-back), send_event (fan-out without duplicates), invoke (result and
//! failure), parallel steps, the step limit.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot_actors::{FnError, FunctionDef, SendEvent, StepError, Trigger, WaitFor};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn kinds(run: &Value) -> Vec<String> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}:{}:{}",
                s["id"].as_str().unwrap(),
                s["kind"].as_str().unwrap(),
                s["status"].as_str().unwrap()
            )
        })
        .collect()
}

fn sleeper(after: Arc<AtomicUsize>) -> FunctionDef {
    FunctionDef::new("sleeper", "Sleeper", move |ctx| {
        let after = after.clone();
        async move {
            ctx.step.sleep("nap", Duration::from_millis(400)).await?;
            let n = ctx
                .step
                .run("after", || async move { Ok(after.fetch_add(1, Ordering::SeqCst)) })
                .await?;
            Ok(json!({ "after": n }))
        }
    })
    .trigger(Trigger::event("test/sleep"))
}

both!(sleep_suspends_and_wakes, sleep_suspends_and_wakes_impl);
async fn sleep_suspends_and_wakes_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let after = Arc::new(AtomicUsize::new(0));
    // Claimed when due (not `wake_ahead` early), so the run is still asleep when the test looks.
    let d = InProc::start(&db.url, vec![sleeper(after.clone())], &[("wake_ahead", "0s")]).await;
    let ids = d.api.send(json!({"name": "test/sleep"})).await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    // Drained means nothing queued or running: the run sleeps in the database, holding no slot.
    assert_eq!(run["status"], "sleeping", "{run}");
    assert_eq!(kinds(run), ["nap:sleep:waiting"]);
    assert!(run["steps"][0]["wake_at"].is_string());
    let health = d.api.get_ok("/health").await;
    assert_eq!(health["functions"][0]["running"], 0, "{health}");
    d.api.drain_all().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(kinds(run), ["nap:sleep:completed", "after:run:completed"]);
    assert_eq!(after.load(Ordering::SeqCst), 1);
    d.stop().await;
}

both!(a_sleep_claimed_ahead_never_ends_early, sleep_ahead_impl);
async fn sleep_ahead_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let after = Arc::new(AtomicUsize::new(0));
    // The 400 ms sleep is claimed 300 ms early; the run actor ends it on time, not at the claim.
    let d = InProc::start(&db.url, vec![sleeper(after.clone())], &[("wake_ahead", "300ms")]).await;
    let ids = d.api.send(json!({"name": "test/sleep"})).await;
    d.api.drain_all().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(kinds(run), ["nap:sleep:completed", "after:run:completed"]);
    let on_time = db
        .count(
            "SELECT COUNT(*) AS n FROM steps r JOIN steps w ON w.run_id = r.run_id AND w.step_key = r.step_key \
             WHERE r.run_id = $1 AND w.status = 'waiting' AND r.status = 'completed' AND r.finished_at >= w.wake_at",
            &[run["id"].as_str().unwrap()],
        )
        .await;
    assert_eq!(on_time, 1, "the sleep ended before its wake_at: {run}");
    assert_eq!(after.load(Ordering::SeqCst), 1);
    d.stop().await;
}

both!(a_sleeping_run_wakes_after_a_restart, sleep_restart_impl);
async fn sleep_restart_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let after = Arc::new(AtomicUsize::new(0));
    let d = InProc::start(&db.url, vec![sleeper(after.clone())], &[("wake_ahead", "0s")]).await;
    let ids = d.api.send(json!({"name": "test/sleep"})).await;
    d.api.drain().await;
    d.stop().await;
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM runs WHERE status = 'sleeping'", &[])
            .await,
        1
    );
    let d = InProc::start(&db.url, vec![sleeper(after.clone())], &[("node_id", "second-life")]).await;
    d.api.drain_all().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(after.load(Ordering::SeqCst), 1);
    d.stop().await;
}

fn waiter(timeout: Duration) -> FunctionDef {
    FunctionDef::new("waiter", "Waiter", move |ctx| async move {
        let wait = WaitFor {
            event: "test/approved",
            if_expr: Some("async.data.orderId == event.data.orderId"),
            timeout,
        };
        let got = ctx.step.wait_for_event("approval", wait).await?;
        Ok(json!({ "approved": got.map(|e| e["data"]["by"].clone()) }))
    })
    .trigger(Trigger::event("test/order"))
}

both!(wait_for_event_resolves_to_the_matching_event, wait_match_impl);
async fn wait_match_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = InProc::start(
        &db.url,
        vec![waiter(Duration::from_secs(300))],
        &[("wait_lookback", "0s")],
    )
    .await;
    let ids = d.api.send(json!({"name": "test/order", "data": {"orderId": 7}})).await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "waiting", "{run}");
    // Another order's approval does not match; ours does.
    d.api
        .send(json!({"name": "test/approved", "data": {"orderId": 8, "by": "mallory"}}))
        .await;
    d.api.drain().await;
    assert_eq!(d.api.runs_of(&ids[0]).await[0]["status"], "waiting");
    d.api
        .send(json!({"name": "test/approved", "data": {"orderId": 7, "by": "alice"}}))
        .await;
    d.api.drain_all().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!({"approved": "alice"}));
    assert_eq!(kinds(run), ["approval:wait_for_event:completed"]);
    d.stop().await;
}

both!(wait_for_event_times_out_to_none, wait_timeout_impl);
async fn wait_timeout_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = InProc::start(&db.url, vec![waiter(Duration::from_millis(300))], &[]).await;
    let ids = d.api.send(json!({"name": "test/order", "data": {"orderId": 1}})).await;
    d.api.drain_all().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!({"approved": null}));
    d.stop().await;
}

both!(
    wait_for_event_looks_back_at_an_event_that_came_first,
    wait_lookback_impl
);
async fn wait_lookback_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = InProc::start(
        &db.url,
        vec![waiter(Duration::from_secs(300))],
        &[("wait_lookback", "1m")],
    )
    .await;
    // The approval arrives before the order's run reaches its wait (Inngest loses this one: inngest#1433).
    d.api
        .send(json!({"name": "test/approved", "data": {"orderId": 3, "by": "early"}}))
        .await;
    let ids = d.api.send(json!({"name": "test/order", "data": {"orderId": 3}})).await;
    d.api.drain_all().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["output"], json!({"approved": "early"}), "{run}");
    d.stop().await;
}

both!(send_event_fans_out_once, send_event_impl);
async fn send_event_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let flaky = Arc::new(AtomicUsize::new(0));
    let children = Arc::new(AtomicUsize::new(0));
    let (f, c) = (flaky.clone(), children.clone());
    let parent = FunctionDef::new("fan-out", "Fan out", move |ctx| {
        let f = f.clone();
        async move {
            let events = (0..3)
                .map(|i| SendEvent::new("test/child", json!({ "i": i })))
                .collect();
            let ids = ctx.step.send_event("emit", events).await?;
            // Fails once after the send: the replay must not send again.
            ctx.step
                .run("after", || async move {
                    match f.fetch_add(1, Ordering::SeqCst) {
                        0 => Err(StepError::retryable("once")),
                        _ => Ok(()),
                    }
                })
                .await?;
            Ok(json!({ "ids": ids }))
        }
    })
    .trigger(Trigger::event("test/fan"));
    let child = FunctionDef::new("child", "Child", move |_ctx| {
        let c = c.clone();
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(Value::Null)
        }
    })
    .trigger(Trigger::event("test/child"));
    let d = InProc::start(&db.url, vec![parent, child], &[]).await;
    let ids = d.api.send(json!({"name": "test/fan"})).await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["ids"].as_array().unwrap().len(), 3);
    assert_eq!(children.load(Ordering::SeqCst), 3, "three children, not six");
    assert_eq!(flaky.load(Ordering::SeqCst), 2);
    assert_eq!(d.api.runs_of_function("child").await.len(), 3);
    d.stop().await;
}

both!(send_event_refuses_what_the_intake_refuses, send_event_rules_impl);
/// `send_event` passes the same rule set as the HTTP intake (`actors/src/event/rules.rs`): a batch holding one
/// event the rules refuse fails the step for good (no retry), names the field, and stores none of its events —
/// not even the valid one beside it.
async fn send_event_rules_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let a = attempts.clone();
    let emitter = FunctionDef::new("emitter", "Emitter", move |ctx| {
        let a = a.clone();
        async move {
            a.fetch_add(1, Ordering::SeqCst);
            let mut bad = SendEvent::new("test/bad-child", json!({}));
            match ctx.event["data"]["case"].as_str().unwrap_or_default() {
                "user" => bad.user = json!("not an object"),
                "ts" => bad.ts = Some(0),
                "nul-name" => bad.name = "test/bad\u{0}child".into(),
                "nul-id" => bad.id = Some("id\u{0}".into()),
                "reserved" => bad.name = "Inngest/fake".into(),
                other => panic!("unknown case {other}"),
            }
            let sent = ctx
                .step
                .send_event("emit", vec![SendEvent::new("test/ok-child", json!({})), bad])
                .await?;
            Ok(json!({ "ids": sent }))
        }
    })
    .trigger(Trigger::event("test/emit"))
    .retries(2);
    let d = InProc::start(&db.url, vec![emitter], &[]).await;
    for (case, field) in [
        ("user", "\"user\" must be an object"),
        ("ts", "\"ts\" must be milliseconds"),
        ("nul-name", "\"name\" must not contain the NUL character"),
        ("nul-id", "\"id\" must not contain the NUL character"),
        ("reserved", "are reserved"),
    ] {
        attempts.store(0, Ordering::SeqCst);
        let ids = d.api.send(json!({"name": "test/emit", "data": {"case": case}})).await;
        d.api.drain().await;
        let run = &d.api.runs_of(&ids[0]).await[0];
        let run = d.api.run(run["id"].as_str().unwrap()).await;
        assert_eq!(run["status"], "failed", "{case}: {run}");
        let message = run["steps"][0]["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{case}: the error names the field: {run}");
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            1,
            "{case}: failed for good, not retried"
        );
        for name in ["test/ok-child", "test/bad-child"] {
            let stored = db
                .count("SELECT COUNT(*) AS n FROM events WHERE name = $1", &[name])
                .await;
            assert_eq!(stored, 0, "{case}: no event of the refused batch is stored ({name})");
        }
    }
    d.stop().await;
}

fn adder() -> FunctionDef {
    FunctionDef::new("adder", "Adder", |ctx| async move {
        let (a, b) = (ctx.event["data"]["a"].as_i64(), ctx.event["data"]["b"].as_i64());
        match (a, b) {
            (Some(a), Some(b)) => Ok(json!({ "sum": a + b })),
            _ => Err(FnError::NonRetriable("a and b must be numbers".into())),
        }
    })
    .trigger(Trigger::event("test/add"))
}

fn caller() -> FunctionDef {
    FunctionDef::new("caller", "Caller", |ctx| async move {
        let data = ctx.event["data"].clone();
        let got = ctx.step.invoke("add", "adder", data, Duration::from_secs(60)).await?;
        Ok(json!({ "got": got }))
    })
    .trigger(Trigger::event("test/call"))
}

both!(invoke_resolves_to_the_child_output_or_fails, invoke_impl);
async fn invoke_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = InProc::start(&db.url, vec![adder(), caller()], &[]).await;
    let ok = d.api.send(json!({"name": "test/call", "data": {"a": 2, "b": 3}})).await;
    let bad = d.api.send(json!({"name": "test/call", "data": {"a": "x"}})).await;
    d.api.drain_all().await;
    let run = &d.api.runs_of(&ok[0]).await[0];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!({"got": {"sum": 5}}));
    assert_eq!(kinds(run), ["add:invoke:completed"]);
    let run = &d.api.runs_of(&bad[0]).await[0];
    assert_eq!(run["status"], "failed", "{run}");
    let msg = run["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("adder") && msg.contains("a and b must be numbers"),
        "{msg}"
    );
    assert_eq!(d.api.runs_of_function("adder").await.len(), 2, "one child per invoke");
    d.stop().await;
}

both!(parallel_steps_run_concurrently, parallel_impl);
async fn parallel_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Both steps wait at a barrier for two: run one after the other, they would never finish.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let f = FunctionDef::new("parallel", "Parallel", move |ctx| {
        let (b1, b2) = (barrier.clone(), barrier.clone());
        async move {
            let (x, y) = futures_util::join!(
                ctx.step.run("left", || async move {
                    b1.wait().await;
                    Ok(1)
                }),
                ctx.step.run("right", || async move {
                    b2.wait().await;
                    Ok(2)
                })
            );
            Ok(json!({ "sum": x? + y? }))
        }
    })
    .trigger(Trigger::event("test/parallel"));
    let d = InProc::start(&db.url, vec![f], &[]).await;
    let ids = d.api.send(json!({"name": "test/parallel"})).await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["output"], json!({"sum": 3}), "{run}");
    assert_eq!(kinds(run), ["left:run:completed", "right:run:completed"]);
    d.stop().await;
}

both!(a_run_past_the_step_limit_fails_clearly, step_limit_impl);
async fn step_limit_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let f = FunctionDef::new("looper", "Looper", |ctx| async move {
        for i in 0..1001u32 {
            ctx.step.run("tick", || async move { Ok(i) }).await?;
        }
        Ok(Value::Null)
    })
    .trigger(Trigger::event("test/loop"));
    let d = InProc::start(&db.url, vec![f], &[]).await;
    let ids = d.api.send(json!({"name": "test/loop"})).await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "failed");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit of 1000 steps"),
        "{}",
        run["error"]
    );
    assert_eq!(run["steps"].as_array().unwrap().len(), 1000);
    d.stop().await;
}

both!(a_run_past_the_state_limit_fails_clearly, state_limit_impl);
async fn state_limit_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Four steps of 9 MiB each: the fourth would take the run's state past 32 MiB.
    let f = FunctionDef::new("hoarder", "Hoarder", |ctx| async move {
        for _ in 0..4 {
            ctx.step
                .run("chunk", || async { Ok("x".repeat(9 * 1024 * 1024)) })
                .await
                .map(|_: String| ())?;
        }
        Ok(Value::Null)
    })
    .trigger(Trigger::event("test/hoard"));
    let d = InProc::start(&db.url, vec![f], &[]).await;
    let ids = d.api.send(json!({"name": "test/hoard"})).await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "failed", "{}", run["error"]);
    let message = run["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("would exceed 32 MiB") && message.contains("chunk:3"),
        "{message}"
    );
    // Not retried: the limit is final, and the three steps within it stay completed.
    assert_eq!(run["attempt"], 0, "{}", run["attempt"]);
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM steps WHERE run_id = $1 AND status = 'completed'",
            &[run["id"].as_str().unwrap()]
        )
        .await,
        3
    );
    d.stop().await;
}
