//! A run's end and what it tells others, both backends: cancellation through the API (between steps, never
//! another step), system events (`inngest/function.failed`, `.finished`) and `on_failure` handlers.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot_actors::{FnError, FunctionDef, StepError, Trigger};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

both!(a_cancelled_run_never_runs_another_step, cancel_running_impl);
async fn cancel_running_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let second = Arc::new(AtomicUsize::new(0));
    let (e, r, s) = (entered.clone(), release.clone(), second.clone());
    let f = FunctionDef::new("cancellable", "Cancellable", move |ctx| {
        let (e, r, s) = (e.clone(), r.clone(), s.clone());
        async move {
            ctx.step
                .run("first", || async move {
                    e.notify_one();
                    r.notified().await;
                    Ok(())
                })
                .await?;
            ctx.step
                .run("second", || async move { Ok(s.fetch_add(1, Ordering::SeqCst)) })
                .await?;
            Ok(Value::Null)
        }
    })
    .trigger(Trigger::event("test/cancel"));
    let d = InProc::start(&db.url, vec![f], &[]).await;
    let ids = d.api.send(json!({"name": "test/cancel"})).await;
    entered.notified().await;
    let run_id = d.api.runs_of(&ids[0]).await[0]["id"].as_str().unwrap().to_string();
    let (status, body) = d.api.post(&format!("/api/v1/runs/{run_id}/cancel")).await;
    assert_eq!((status, &body["status"]), (200, &json!("cancelled")), "{body}");
    release.notify_one();
    d.api.drain().await;
    let run = d.api.run(&run_id).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    assert_eq!(second.load(Ordering::SeqCst), 0, "no step after the cancellation");
    // Cancelling again is a conflict; an unknown run is 404.
    assert_eq!(d.api.post(&format!("/api/v1/runs/{run_id}/cancel")).await.0, 409);
    assert_eq!(d.api.post("/api/v1/runs/nope/cancel").await.0, 404);
    d.stop().await;
}

both!(a_sleeping_run_can_be_cancelled, cancel_sleeping_impl);
async fn cancel_sleeping_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let after = Arc::new(AtomicUsize::new(0));
    let a = after.clone();
    let f = FunctionDef::new("napper", "Napper", move |ctx| {
        let a = a.clone();
        async move {
            ctx.step.sleep("nap", Duration::from_secs(3600)).await?;
            ctx.step
                .run("after", || async move { Ok(a.fetch_add(1, Ordering::SeqCst)) })
                .await?;
            Ok(Value::Null)
        }
    })
    .trigger(Trigger::event("test/nap"));
    let d = InProc::start(&db.url, vec![f], &[]).await;
    let ids = d.api.send(json!({"name": "test/nap"})).await;
    d.api.drain().await;
    let run_id = d.api.runs_of(&ids[0]).await[0]["id"].as_str().unwrap().to_string();
    assert_eq!(d.api.post(&format!("/api/v1/runs/{run_id}/cancel")).await.0, 200);
    d.api.drain_all().await;
    let run = d.api.run(&run_id).await;
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["error"]["name"], "Cancelled");
    assert_eq!(after.load(Ordering::SeqCst), 0);
    d.stop().await;
}

both!(failures_reach_on_failure_handlers_and_system_listeners, on_failure_impl);
async fn on_failure_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let failing = FunctionDef::new("fragile", "Fragile", |_ctx| async move {
        Err::<Value, _>(FnError::NonRetriable("the order is gone".into()))
    })
    .trigger(Trigger::event("test/fragile"))
    .on_failure(|ctx| async move {
        let data = &ctx.event["data"];
        Ok(json!({
            "failed": data["function_id"],
            "message": data["error"]["message"],
            "original": data["event"]["data"]["order"],
        }))
    });
    let fine = FunctionDef::new("fine", "Fine", |ctx| async move {
        ctx.step.run("ok", || async { Ok::<_, StepError>(1) }).await?;
        Ok(json!("done"))
    })
    .trigger(Trigger::event("test/fine"));
    let audit = FunctionDef::new("audit", "Audit", |ctx| async move {
        Ok(json!({ "function": ctx.event["data"]["function_id"], "result": ctx.event["data"]["result"] }))
    })
    .trigger(Trigger::event_if(
        "inngest/function.finished",
        "event.data.function_id == 'fine'",
    ));
    let d = InProc::start(&db.url, vec![failing, fine, audit], &[]).await;
    d.api.send(json!({"name": "test/fragile", "data": {"order": 42}})).await;
    d.api.send(json!({"name": "test/fine"})).await;
    d.api.drain().await;
    let handled = d.api.runs_of_function("fragile-failure").await;
    assert_eq!(handled.len(), 1, "one on_failure run");
    assert_eq!(handled[0]["status"], "completed", "{}", handled[0]);
    assert_eq!(
        handled[0]["output"],
        json!({"failed": "fragile", "message": "the order is gone", "original": 42})
    );
    let audits = d.api.runs_of_function("audit").await;
    assert_eq!(
        audits.len(),
        1,
        "finished event for `fine` only (the condition filters `fragile`)"
    );
    assert_eq!(audits[0]["output"], json!({"function": "fine", "result": "done"}));
    d.stop().await;
}
