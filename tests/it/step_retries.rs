//! Per-step retry count and backoff (inngest#3237, #3738) on the real daemon in-process, both backends: a step's
//! `StepOptions` override the function's `retries` and the daemon's backoff (the harness's is a fixed 10 ms).

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot_actors::backoff::Backoff;
use ingot_actors::{FunctionDef, StepError, StepOptions, Trigger};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

fn ms(t: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

/// A step that fails (retryably) `fails` times, then returns how often it ran.
fn flaky(id: &str, retries: u32, options: StepOptions, fails: u32, calls: Arc<AtomicU32>) -> FunctionDef {
    FunctionDef::new(id, id, move |ctx| {
        let calls = calls.clone();
        async move {
            let n = ctx
                .step
                .run_with("call", options, || async move {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    if n < fails {
                        Err(StepError::retryable(format!("flaky {n}")))
                    } else {
                        Ok(n + 1)
                    }
                })
                .await?;
            Ok(json!(n))
        }
    })
    .trigger(Trigger::event(&format!("test/{id}")))
    .retries(retries)
}

both!(a_step_gets_its_own_retries_and_backoff, step_retries_impl);
async fn step_retries_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (more, fewer) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let spaced = StepOptions::new()
        .retries(3)
        .backoff(Backoff::Fixed(Duration::from_millis(300)));
    let functions = vec![
        // The function allows no retry; the step allows 3, 300 ms apart.
        flaky("more", 0, spaced, 2, more.clone()),
        // The function allows 5; the step none: its first error fails it.
        flaky("fewer", 5, StepOptions::new().retries(0), 1, fewer.clone()),
    ];
    let d = InProc::start(&db.url, functions, &[]).await;
    let a = d.api.send(json!({"name": "test/more"})).await;
    let b = d.api.send(json!({"name": "test/fewer"})).await;
    d.api.drain().await;

    let run = d.api.only_run(&a[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!(3), "two errors, then success on the third attempt");
    assert_eq!(more.load(Ordering::SeqCst), 3);
    let history = run["steps"][0]["history"].as_array().unwrap().clone();
    let statuses: Vec<&str> = history.iter().map(|h| h["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["errored", "errored", "completed"]);
    for h in &history[..2] {
        // The step's backoff, not the daemon's 10 ms.
        assert_eq!(ms(&h["retry_at"]) - ms(&h["finished_at"]), 300, "{h}");
    }

    let run = d.api.only_run(&b[0]).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(
        fewer.load(Ordering::SeqCst),
        1,
        "no retry although the function allows 5"
    );
    assert_eq!(run["steps"][0]["history"].as_array().unwrap().len(), 1);
    d.stop().await;
}
