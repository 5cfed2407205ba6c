//! `step.pure`: a step without side effects is memoized as `step.run` is, but its completed attempt is written with
//! the run's next write — the next step's record (a transactional step's own transaction), or the run's transition
//! — instead of a write of its own. Both
//! backends; on PostgreSQL the rows' `xmin` (the transaction that wrote them) shows the pure step and the run's
//! finish committed together.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot_actors::{FunctionDef, StepError, Trigger};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

/// Two pure steps, then the run ends.
fn renderer(calls: Arc<AtomicUsize>) -> FunctionDef {
    FunctionDef::new("renderer", "Renderer", move |ctx| {
        let calls = calls.clone();
        async move {
            let name = ctx.event["data"]["name"].as_str().unwrap_or_default().to_string();
            let subject: String = ctx
                .step
                .pure("render the subject", || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(format!("Hello {name}"))
                })
                .await?;
            let length: usize = ctx.step.pure("measure it", || Ok(subject.len())).await?;
            Ok(json!({"subject": subject, "length": length}))
        }
    })
    .trigger(Trigger::event("test/render"))
}

both!(pure_steps_are_written_with_the_runs_finish, with_finish_impl);
async fn with_finish_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let calls = counter();
    let d = InProc::start(&db.url, vec![renderer(calls.clone())], &[]).await;
    let ids = d
        .api
        .send(json!({"name": "test/render", "data": {"name": "Ada"}}))
        .await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!({"subject": "Hello Ada", "length": 9}));
    let steps: Vec<(&str, &str)> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [("render the subject", "completed"), ("measure it", "completed")],
        "both results are recorded"
    );
    assert_eq!(run["steps"][1]["output"], json!(9));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    if backend == Backend::Postgres {
        let writers = db.writers(
            "SELECT xmin::text AS x FROM steps WHERE run_id = $1 UNION SELECT xmin::text AS x FROM runs WHERE id = $1",
            run["id"].as_str().unwrap(),
        )
        .await;
        assert_eq!(
            writers.len(),
            1,
            "the two pure steps and the run's finish are one transaction: {writers:?}"
        );
    }
    d.stop().await;
}

both!(a_pure_step_is_not_run_again_on_a_retry, replay_impl);
async fn replay_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (pure_calls, flaky_calls) = (counter(), counter());
    let (p, f) = (pure_calls.clone(), flaky_calls.clone());
    let def = FunctionDef::new("flaky", "Flaky", move |ctx| {
        let (p, f) = (p.clone(), f.clone());
        async move {
            let seven: u32 = ctx
                .step
                .pure("compute", || {
                    p.fetch_add(1, Ordering::SeqCst);
                    Ok(7)
                })
                .await?;
            let eight: u32 = ctx
                .step
                .run("call", || async move {
                    match f.fetch_add(1, Ordering::SeqCst) {
                        0 => Err(StepError::retryable("503 from the service")),
                        _ => Ok(seven + 1),
                    }
                })
                .await?;
            Ok(json!(eight))
        }
    })
    .trigger(Trigger::event("test/flaky"));
    let d = InProc::start(&db.url, vec![def], &[]).await;
    let ids = d.api.send(json!({"name": "test/flaky"})).await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!(8));
    assert_eq!(flaky_calls.load(Ordering::SeqCst), 2, "the service step ran twice");
    assert_eq!(
        pure_calls.load(Ordering::SeqCst),
        1,
        "the pure step's result was written with the errored attempt, and replayed on the retry"
    );
    if backend == Backend::Postgres {
        let writers = db
            .writers(
                "SELECT xmin::text AS x FROM steps WHERE run_id = $1 AND (step_key = 'compute' OR attempt = 0)",
                run["id"].as_str().unwrap(),
            )
            .await;
        assert_eq!(
            writers.len(),
            1,
            "the pure step went in the same transaction as the next step's first attempt: {writers:?}"
        );
    }
    d.stop().await;
}

both!(
    pure_steps_before_a_transactional_step_go_in_its_transaction,
    before_tx_impl
);
async fn before_tx_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let def = FunctionDef::new("shaper", "Shaper", move |ctx| async move {
        let a: u32 = ctx.step.pure("first", || Ok(1)).await?;
        let b: u32 = ctx.step.pure("second", || Ok(a + 1)).await?;
        let c: u32 =
            ingot::store::tx_step::run(&ctx.step, "store it", move |_tx| Box::pin(async move { Ok(b + 1) })).await?;
        Ok(json!(c))
    })
    .trigger(Trigger::event("test/shape"));
    let d = InProc::start(&db.url, vec![def], &[]).await;
    let ids = d.api.send(json!({"name": "test/shape"})).await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!(3));
    assert_eq!(run["steps"].as_array().unwrap().len(), 3, "{run}");
    if backend == Backend::Postgres {
        let writers = db
            .writers(
                "SELECT xmin::text AS x FROM steps WHERE run_id = $1 AND step_key IN ('first', 'second', 'store it')",
                run["id"].as_str().unwrap(),
            )
            .await;
        assert_eq!(
            writers.len(),
            1,
            "the two pure steps are written in the transactional step's own transaction: {writers:?}"
        );
    }
    d.stop().await;
}

both!(
    pure_steps_before_a_failing_transactional_step_are_recorded_all_the_same,
    before_failing_tx_impl
);
async fn before_failing_tx_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.exec("CREATE TABLE shaped (v INTEGER NOT NULL)", &[]).await;
    let (pure_calls, work_calls) = (counter(), counter());
    let (p, w) = (pure_calls.clone(), work_calls.clone());
    let def = FunctionDef::new("shaper", "Shaper", move |ctx| {
        let (p, w) = (p.clone(), w.clone());
        async move {
            let a: u32 = ctx
                .step
                .pure("first", || {
                    p.fetch_add(1, Ordering::SeqCst);
                    Ok(41)
                })
                .await?;
            let b: u32 = ingot::store::tx_step::run(&ctx.step, "store it", move |tx| {
                let w = w.clone();
                Box::pin(async move {
                    use diesel_async::RunQueryDsl;
                    let sql = format!("INSERT INTO shaped (v) VALUES ({a})");
                    ingot::with_tx!(tx, |c| diesel::sql_query(sql).execute(c).await)
                        .map_err(|e| ingot::store::tx_step::classify(e.into()))?;
                    match w.fetch_add(1, Ordering::SeqCst) {
                        0 => Err(StepError::retryable("failed after its insert")),
                        _ => Ok(a + 1),
                    }
                })
            })
            .await?;
            Ok(json!(b))
        }
    })
    .trigger(Trigger::event("test/shape"));
    let d = InProc::start(&db.url, vec![def], &[]).await;
    let ids = d.api.send(json!({"name": "test/shape"})).await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!(42));
    assert_eq!(
        work_calls.load(Ordering::SeqCst),
        2,
        "the work failed once, then succeeded"
    );
    assert_eq!(
        pure_calls.load(Ordering::SeqCst),
        1,
        "the pure step's record committed with the failed attempt's batch (the work's writes rolled back, not it), \
         and was replayed on the retry"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM shaped", &[]).await,
        1,
        "the failed attempt's insert was rolled back"
    );
    d.stop().await;
}
