//! Transactional steps (`Step::run_tx` through `ingot::store::tx_step`) on the real daemon in-process, both
//! backends: a failed attempt's writes roll back with it and the step retries by the usual rules; a completed step
//! replays its memo without running again; a fatal error fails the step with nothing written. The batch-level
//! isolation (savepoints) is in `write_isolation.rs`, the crash tests in `crash_steps/`.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot_actors::{FunctionDef, StepError, Trigger};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// Tx step `book`: counts its executions, inserts `(run_id, execution)` into `tx_effects`, then fails on the
/// executions in `fail_on` (`fatal` or retryable). A plain step `flaky` after it fails once (retryably) when
/// `flaky_once`, so the run is retried and `book` must replay.
fn booking(id: &str, fail_on: &'static [u32], fatal: bool, flaky_once: bool, runs: Arc<AtomicU32>) -> FunctionDef {
    let flaky = Arc::new(AtomicU32::new(0));
    FunctionDef::new(id, id, move |ctx| {
        let (runs, flaky) = (runs.clone(), flaky.clone());
        async move {
            let run_id = ctx.run_id.clone();
            let booked: u32 = ingot::store::tx_step::run(&ctx.step, "book", move |tx| {
                let (run_id, runs) = (run_id.clone(), runs.clone());
                Box::pin(async move {
                    use diesel_async::RunQueryDsl;
                    let n = runs.fetch_add(1, Ordering::SeqCst);
                    let sql = format!("INSERT INTO tx_effects (run_id, n) VALUES ('{run_id}', {n})");
                    ingot::with_tx!(tx, |c| diesel::sql_query(sql).execute(c).await)
                        .map_err(|e| ingot::store::tx_step::classify(e.into()))?;
                    match (fail_on.contains(&n), fatal) {
                        (true, true) => Err(StepError::fatal("booking refused")),
                        (true, false) => Err(StepError::retryable("booking failed")),
                        _ => Ok(n),
                    }
                })
            })
            .await?;
            ctx.step
                .run("flaky", || async {
                    if flaky_once && flaky.fetch_add(1, Ordering::SeqCst) == 0 {
                        return Err(StepError::retryable("flaky"));
                    }
                    Ok(())
                })
                .await?;
            Ok(json!({ "booked": booked }))
        }
    })
    .trigger(Trigger::event(&format!("test/{id}")))
    .retries(3)
}

async fn bed(backend: Backend) -> TestDb {
    let db = TestDb::new(backend).await;
    db.exec(
        "CREATE TABLE tx_effects (run_id TEXT NOT NULL, n INTEGER NOT NULL)",
        &[],
    )
    .await;
    db
}

async fn count(db: &TestDb, sql: &str, run: &str) -> i64 {
    db.count(sql, &[run]).await
}

both!(
    a_failed_attempt_rolls_back_and_a_completed_step_replays,
    retry_replay_impl
);
async fn retry_replay_impl(backend: Backend) {
    let db = bed(backend).await;
    let runs = Arc::new(AtomicU32::new(0));
    // `book` fails (retryably) on its first execution, succeeds on its second; then `flaky` fails once, so the
    // run goes back to the queue and `book` is replayed from its memo.
    let d = InProc::start(&db.url, vec![booking("booking", &[0], false, true, runs.clone())], &[]).await;
    let ids = d.api.send(json!({"name": "test/booking"})).await;
    d.api.drain().await;
    let r = d.api.only_run(&ids[0]).await["id"].as_str().unwrap().to_string();
    let run = d.api.run(&r).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!({"booked": 1}));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "executed twice (one retry), not again on replay"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM tx_effects WHERE run_id = $1", &r).await,
        1,
        "the failed attempt's insert rolled back with it"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) AS n FROM tx_effects WHERE run_id = $1 AND n = 1",
            &r
        )
        .await,
        1
    );
    for (status, n) in [("errored", 1), ("completed", 1)] {
        let rows = db
            .count(
                "SELECT COUNT(*) AS n FROM steps WHERE run_id = $1 AND step_key = 'book' AND status = $2",
                &[&r, status],
            )
            .await;
        assert_eq!(rows, n, "{status} attempts of book");
    }
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) AS n FROM steps WHERE run_id = $1 AND step_key = 'flaky'",
            &r
        )
        .await,
        2,
        "the run was retried after book completed"
    );
}

both!(a_fatal_error_fails_the_step_with_nothing_written, fatal_impl);
async fn fatal_impl(backend: Backend) {
    let db = bed(backend).await;
    let runs = Arc::new(AtomicU32::new(0));
    let d = InProc::start(&db.url, vec![booking("refused", &[0], true, false, runs.clone())], &[]).await;
    let ids = d.api.send(json!({"name": "test/refused"})).await;
    d.api.drain().await;
    let r = d.api.only_run(&ids[0]).await["id"].as_str().unwrap().to_string();
    let run = d.api.run(&r).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "no retry");
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM tx_effects WHERE run_id = $1", &r).await,
        0
    );
    let failed = db
        .count(
            "SELECT COUNT(*) AS n FROM steps WHERE run_id = $1 AND step_key = 'book' AND status = 'failed'",
            &[&r],
        )
        .await;
    assert_eq!(failed, 1);
}
