//! Engine semantics with test functions, on the real daemon in-process: memoized steps across retries,
//! repeated step names, function-level retries, Retry-After, graceful shutdown between steps, several daemons
//! on one database.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot_actors::{FnError, FunctionDef, StepError, Trigger};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

/// Step `a` once, step `b` failing twice before succeeding, then three steps named `item`.
fn flaky(a: Arc<AtomicUsize>, b: Arc<AtomicUsize>) -> FunctionDef {
    FunctionDef::new("flaky", "Flaky", move |ctx| {
        let (a, b) = (a.clone(), b.clone());
        async move {
            let first: u64 = ctx
                .step
                .run("a", || async { Ok(a.fetch_add(1, Ordering::SeqCst) as u64 + 100) })
                .await?;
            let second: String = ctx
                .step
                .run("b", || async {
                    match b.fetch_add(1, Ordering::SeqCst) {
                        0 | 1 => Err(StepError::retryable("flaky service")),
                        _ => Ok("recovered".to_string()),
                    }
                })
                .await?;
            let mut items = Vec::new();
            for i in 0..3u32 {
                items.push(ctx.step.run("item", || async move { Ok(i * 10) }).await?);
            }
            Ok(json!({"first": first, "second": second, "items": items}))
        }
    })
    .trigger(Trigger::event("test/flaky"))
}

both!(completed_steps_never_run_again, completed_steps_never_run_again_impl);
async fn completed_steps_never_run_again_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (a, b) = (counter(), counter());
    let d = InProc::start(&db.url, vec![flaky(a.clone(), b.clone())], &[]).await;
    let ids = d.api.send(json!({"name": "test/flaky"})).await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        run["output"],
        json!({"first": 100, "second": "recovered", "items": [0, 10, 20]})
    );
    assert_eq!(
        a.load(Ordering::SeqCst),
        1,
        "step a ran once although the run was replayed after each retry"
    );
    assert_eq!(b.load(Ordering::SeqCst), 3);
    let steps = run["steps"].as_array().unwrap();
    let ids: Vec<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["a", "b", "item", "item:1", "item:2"],
        "repeated names are numbered"
    );
    let b_history: Vec<&str> = steps[1]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(b_history, ["errored", "errored", "completed"]);
    assert_eq!(steps[1]["error"], Value::Null, "the latest attempt succeeded");
    assert_eq!(steps[1]["history"][0]["error"]["message"], "flaky service");
    d.stop().await;
}

both!(function_level_errors_retry_the_function, function_level_errors_impl);
async fn function_level_errors_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let once = counter();
    let seen = once.clone();
    let f = FunctionDef::new("outside", "Outside", move |ctx| {
        let once = seen.clone();
        async move {
            ctx.step
                .run("once", || async { Ok(once.fetch_add(1, Ordering::SeqCst)) })
                .await?;
            if ctx.attempt < 2 {
                return Err(FnError::Retryable {
                    message: format!("attempt {}", ctx.attempt),
                    retry_after: None,
                });
            }
            Ok(json!({"attempt": ctx.attempt}))
        }
    })
    .trigger(Trigger::event("test/outside"));
    let fatal = FunctionDef::new("fatal", "Fatal", |_ctx| async {
        Err(FnError::NonRetriable("bad input".into()))
    })
    .trigger(Trigger::event("test/fatal"));
    let d = InProc::start(&db.url, vec![f, fatal], &[]).await;
    let ids = d
        .api
        .send(json!([{"name": "test/outside"}, {"name": "test/fatal"}]))
        .await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(
        (run["status"].as_str(), run["attempt"].as_i64()),
        (Some("completed"), Some(2)),
        "{run}"
    );
    assert_eq!(run["output"], json!({"attempt": 2}));
    assert_eq!(once.load(Ordering::SeqCst), 1);
    let failed = &d.api.runs_of(&ids[1]).await[0];
    assert_eq!(
        (failed["status"].as_str(), failed["attempt"].as_i64()),
        (Some("failed"), Some(0))
    );
    assert_eq!(
        failed["error"],
        json!({"name": "NonRetriableError", "message": "bad input"})
    );
    d.stop().await;
}

both!(retry_after_is_honoured, retry_after_impl);
async fn retry_after_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let calls = counter();
    let c = calls.clone();
    let f = FunctionDef::new("limited", "Limited", move |ctx| {
        let c = c.clone();
        async move {
            let v: u32 = ctx
                .step
                .run("call", || async {
                    match c.fetch_add(1, Ordering::SeqCst) {
                        0 => Err(StepError::retry_after(
                            "429 Too Many Requests",
                            Duration::from_millis(1500),
                        )),
                        _ => Ok(7),
                    }
                })
                .await?;
            Ok(json!(v))
        }
    })
    .trigger(Trigger::event("test/limited"));
    let d = InProc::start(&db.url, vec![f], &[]).await;
    let ids = d.api.send(json!({"name": "test/limited"})).await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "completed");
    let first = &run["steps"][0]["history"][0];
    let finished = chrono::DateTime::parse_from_rfc3339(first["finished_at"].as_str().unwrap()).unwrap();
    let retry_at = chrono::DateTime::parse_from_rfc3339(first["retry_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        (retry_at - finished).num_milliseconds(),
        1500,
        "Retry-After wins over the 10ms backoff"
    );
    let second = &run["steps"][0]["history"][1];
    let started = chrono::DateTime::parse_from_rfc3339(second["started_at"].as_str().unwrap()).unwrap();
    assert!(started >= retry_at, "the retry did not run before its time");
    d.stop().await;
}

both!(shutdown_lets_the_step_finish_and_resumes_later, shutdown_impl);
async fn shutdown_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (slow_runs, after_runs) = (counter(), counter());
    let make = |started: Arc<Notify>, release: Arc<Notify>, slow: Arc<AtomicUsize>, after: Arc<AtomicUsize>| {
        FunctionDef::new("slow", "Slow", move |ctx| {
            let (started, release, slow, after) = (started.clone(), release.clone(), slow.clone(), after.clone());
            async move {
                ctx.step
                    .run("slow", || async {
                        slow.fetch_add(1, Ordering::SeqCst);
                        started.notify_one();
                        release.notified().await;
                        Ok(())
                    })
                    .await?;
                ctx.step
                    .run("after", || async { Ok(after.fetch_add(1, Ordering::SeqCst)) })
                    .await?;
                Ok(json!("done"))
            }
        })
        .trigger(Trigger::event("test/slow"))
    };
    let f = make(started.clone(), release.clone(), slow_runs.clone(), after_runs.clone());
    let mut d = InProc::start(&db.url, vec![f], &[]).await;
    let ids = d.api.send(json!({"name": "test/slow"})).await;
    started.notified().await;
    // Stop while the step is in flight; it finishes and is persisted, the next step does not start.
    let runtime = d.runtime.clone();
    let shutdown_begun = runtime.shutdown_begun();
    d.begin_stop();
    shutdown_begun.await;
    release.notify_one();
    d.stop().await;
    assert_eq!(
        (slow_runs.load(Ordering::SeqCst), after_runs.load(Ordering::SeqCst)),
        (1, 0)
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM runs WHERE status = 'queued'", &[])
            .await,
        1,
        "handed back"
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM steps WHERE step_key = 'slow' AND status = 'completed'",
            &[]
        )
        .await,
        1
    );

    let f = make(started.clone(), release.clone(), slow_runs.clone(), after_runs.clone());
    let d = InProc::start(&db.url, vec![f], &[]).await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "completed");
    assert_eq!(
        (slow_runs.load(Ordering::SeqCst), after_runs.load(Ordering::SeqCst)),
        (1, 1),
        "resumed after `slow`"
    );
    d.stop().await;
}

both!(several_daemons_share_one_database, several_daemons_impl);
async fn several_daemons_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let executions = counter();
    let make = |n: Arc<AtomicUsize>| {
        FunctionDef::new("shared", "Shared", move |ctx| {
            let n = n.clone();
            async move {
                ctx.step
                    .run("count", || async { Ok(n.fetch_add(1, Ordering::SeqCst)) })
                    .await?;
                Ok(Value::Null)
            }
        })
        .trigger(Trigger::event("test/shared"))
    };
    let one = InProc::start(&db.url, vec![make(executions.clone())], &[("node_id", "node-one")]).await;
    // The second daemon runs its runs on two extra engine threads.
    let two = InProc::start(
        &db.url,
        vec![make(executions.clone())],
        &[("node_id", "node-two"), ("engine_threads", "2")],
    )
    .await;
    let events: Vec<Value> = (0..100)
        .map(|i| json!({"name": "test/shared", "data": {"i": i}}))
        .collect();
    let (half_a, half_b) = events.split_at(50);
    one.api.send(Value::Array(half_a.to_vec())).await;
    two.api.send(Value::Array(half_b.to_vec())).await;
    one.api.drain().await;
    two.api.drain().await;
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM runs WHERE status = 'completed'", &[])
            .await,
        100
    );
    assert_eq!(
        executions.load(Ordering::SeqCst),
        100,
        "each step ran exactly once across both daemons"
    );
    assert_eq!(db.count("SELECT COUNT(DISTINCT id) AS n FROM nodes", &[]).await, 2);
    one.stop().await;
    two.stop().await;
}
