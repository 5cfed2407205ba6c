//! Rerun a failed run once its cause is fixed, and rerun from a step: the steps before it are not executed again.

use super::{actions_of, post, post_ok};
use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot_actors::{FunctionDef, StepError, Trigger};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Three steps; `c` fails for good while `broken` is set. Each step counts its executions.
fn three_steps(broken: Arc<AtomicBool>, counts: Arc<[AtomicUsize; 3]>) -> FunctionDef {
    FunctionDef::new("three-steps", "Three steps", move |ctx| {
        let (broken, counts) = (broken.clone(), counts.clone());
        async move {
            let c0 = counts.clone();
            let a = ctx
                .step
                .run("a", || async move { Ok(c0[0].fetch_add(1, Ordering::SeqCst) + 1) })
                .await?;
            let c1 = counts.clone();
            let b = ctx
                .step
                .run("b", || async move { Ok(c1[1].fetch_add(1, Ordering::SeqCst) + 1) })
                .await?;
            let c2 = counts.clone();
            let c = ctx
                .step
                .run("c", || async move {
                    c2[2].fetch_add(1, Ordering::SeqCst);
                    if broken.load(Ordering::SeqCst) {
                        return Err(StepError::fatal("the credential is wrong"));
                    }
                    Ok("done".to_string())
                })
                .await?;
            Ok(json!({"a": a, "b": b, "c": c}))
        }
    })
    .trigger(Trigger::event("test/three"))
    .retries(0)
}

fn counts() -> Arc<[AtomicUsize; 3]> {
    Arc::new([AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)])
}

fn seen(c: &[AtomicUsize; 3]) -> [usize; 3] {
    [0, 1, 2].map(|i| c[i].load(Ordering::SeqCst))
}

async fn failed_run(d: &InProc) -> Value {
    let ids = d.api.send(json!({"name": "test/three"})).await;
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(run["status"], "failed", "{run}");
    run
}

both!(a_rerun_of_a_fixed_failure_completes, rerun_impl);
async fn rerun_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (broken, c) = (Arc::new(AtomicBool::new(true)), counts());
    let d = InProc::start(&db.url, vec![three_steps(broken.clone(), c.clone())], &[]).await;
    let original = failed_run(&d).await;
    let id = original["id"].as_str().unwrap();
    assert_eq!(seen(&c), [1, 1, 1]);
    broken.store(false, Ordering::SeqCst);
    let answer = post_ok(&d.api, &format!("/api/v1/runs/{id}/rerun"), None).await;
    assert_eq!(answer["rerun_of"], id);
    assert_eq!(answer["kept_steps"], 0);
    d.api.drain().await;
    let new_id = answer["id"].as_str().unwrap();
    assert_ne!(new_id, id);
    let rerun = d.api.run(new_id).await;
    assert_eq!(rerun["status"], "completed", "{rerun}");
    assert_eq!(rerun["rerun_of"], id);
    assert_eq!(rerun["event_id"], original["event_id"]);
    // A whole rerun executes every step again.
    assert_eq!(seen(&c), [2, 2, 2]);
    assert_eq!(rerun["output"], json!({"a": 2, "b": 2, "c": "done"}));
    // The action shows on both runs; the original is unchanged.
    let original = d.api.run(id).await;
    assert_eq!(original["status"], "failed");
    assert_eq!(actions_of(&original), ["rerun:admin-token"]);
    assert_eq!(actions_of(&rerun), ["rerun:admin-token"]);
    assert_eq!(original["actions"][0]["result"]["run_id"], new_id);
    d.stop().await;
}

both!(a_rerun_from_a_step_keeps_the_steps_before_it, rerun_from_step_impl);
async fn rerun_from_step_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (broken, c) = (Arc::new(AtomicBool::new(true)), counts());
    let d = InProc::start(&db.url, vec![three_steps(broken.clone(), c.clone())], &[]).await;
    let original = failed_run(&d).await;
    let id = original["id"].as_str().unwrap();
    broken.store(false, Ordering::SeqCst);
    let answer = post_ok(
        &d.api,
        &format!("/api/v1/runs/{id}/rerun"),
        Some(json!({"from_step": "b"})),
    )
    .await;
    assert_eq!(answer["kept_steps"], 1, "{answer}");
    d.api.drain().await;
    let rerun = d.api.run(answer["id"].as_str().unwrap()).await;
    assert_eq!(rerun["status"], "completed", "{rerun}");
    // `a` did not run again (its memoized output 1 is reused); `b` and `c` did.
    assert_eq!(seen(&c), [1, 2, 2]);
    assert_eq!(rerun["output"], json!({"a": 1, "b": 2, "c": "done"}));
    let steps: Vec<_> = rerun["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}:{}:{}",
                s["id"].as_str().unwrap(),
                s["status"].as_str().unwrap(),
                s["attempts"]
            )
        })
        .collect();
    assert_eq!(steps, ["a:completed:1", "b:completed:1", "c:completed:1"]);
    assert_eq!(rerun["steps"][0]["output"], original["steps"][0]["output"]);
    assert_eq!(rerun["actions"][0]["params"]["from_step"], "b");
    d.stop().await;
}

both!(
    a_rerun_is_refused_for_bad_input_and_changes_nothing,
    rerun_refusals_impl
);
async fn rerun_refusals_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (broken, c) = (Arc::new(AtomicBool::new(true)), counts());
    let d = InProc::start(
        &db.url,
        vec![three_steps(broken.clone(), c.clone()), super::napper()],
        &[],
    )
    .await;
    let original = failed_run(&d).await;
    let id = original["id"].as_str().unwrap();
    let (status, body) = post(
        &d.api,
        &format!("/api/v1/runs/{id}/rerun"),
        Some(json!({"from_step": "zzz"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("no step \"zzz\""), "{body}");
    let (status, body) = post(&d.api, &format!("/api/v1/runs/{id}/rerun"), Some(json!({"from": "b"}))).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = post(&d.api, "/api/v1/runs/no-such-run/rerun", None).await;
    assert_eq!(status, 404);
    let napping = d.api.send(json!({"name": "test/nap"})).await;
    d.api.drain().await;
    let sleeping = d.api.only_run(&napping[0]).await;
    let (status, body) = post(
        &d.api,
        &format!("/api/v1/runs/{}/rerun", sleeping["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    // Nothing was created or recorded.
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM runs", &[]).await, 2);
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM actions", &[]).await, 0);
    assert!(d.api.run(id).await["actions"].as_array().unwrap().is_empty());
    d.stop().await;
}
