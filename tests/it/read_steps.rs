//! Read steps (`tx_step::read`, `Step::run_read`): a lookup memoized as any step, run in a read-only transaction,
//! its completed attempt written with the run's next write — a transactional step's own transaction, or the run's
//! finish — instead of a commit of its own. Both backends; on PostgreSQL the rows' `xmin` (the transaction that
//! wrote them) shows which records committed together.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot::store::tx_step;
use ingot_actors::{FunctionDef, StepError, Trigger};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// PostgreSQL: the distinct transactions (`xmin`) that wrote the step rows `keys` of `run_id`, and its run row
/// when `with_run`.
async fn transactions(db: &TestDb, run_id: &str, keys: &[&str], with_run: bool) -> Vec<String> {
    let list = keys.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ");
    let mut sql = format!("SELECT xmin::text AS x FROM steps WHERE run_id = $1 AND step_key IN ({list})");
    if with_run {
        sql.push_str(" UNION SELECT xmin::text AS x FROM runs WHERE id = $1");
    }
    db.writers(&sql, run_id).await
}

/// Reads the `v` of the row the test put in `lookup`.
async fn read_v(tx: &mut tx_step::DbTx<'_>) -> Result<i64, StepError> {
    #[derive(diesel::QueryableByName)]
    struct V {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        v: i64,
    }
    use diesel_async::RunQueryDsl;
    let rows: Vec<V> = ingot::with_tx!(tx, |c| diesel::sql_query("SELECT v FROM lookup").load(c).await)
        .map_err(|e| tx_step::classify(e.into()))?;
    rows.into_iter()
        .next()
        .map(|r| r.v)
        .ok_or_else(|| StepError::fatal("no lookup row"))
}

both!(
    a_read_step_is_recorded_in_the_next_transactional_steps_transaction_and_replayed,
    next_tx_impl
);
async fn next_tx_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.exec("CREATE TABLE lookup (v BIGINT NOT NULL)", &[]).await;
    db.exec("INSERT INTO lookup (v) VALUES (20)", &[]).await;
    let (reads, calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (r, k) = (reads.clone(), calls.clone());
    let def = FunctionDef::new("looker", "Looker", move |ctx| {
        let (r, k) = (r.clone(), k.clone());
        async move {
            let v: i64 = tx_step::read(&ctx.step, "look it up", move |tx| {
                let r = r.clone();
                Box::pin(async move {
                    r.fetch_add(1, Ordering::SeqCst);
                    read_v(tx).await
                })
            })
            .await?;
            let doubled: i64 =
                tx_step::run(&ctx.step, "store it", move |_tx| Box::pin(async move { Ok(v * 2) })).await?;
            let answer: i64 = ctx
                .step
                .run("call", || async move {
                    match k.fetch_add(1, Ordering::SeqCst) {
                        0 => Err(StepError::retryable("503 from the service")),
                        _ => Ok(doubled + 2),
                    }
                })
                .await?;
            Ok(json!(answer))
        }
    })
    .trigger(Trigger::event("test/look"));
    let d = InProc::start(&db.url, vec![def], &[]).await;
    let ids = d.api.send(json!({"name": "test/look"})).await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!(42));
    assert_eq!(run["steps"][0]["id"], "look it up", "{run}");
    assert_eq!(run["steps"][0]["status"], "completed", "{run}");
    assert_eq!(run["steps"][0]["output"], json!(20), "{run}");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the service step ran twice");
    assert_eq!(
        reads.load(Ordering::SeqCst),
        1,
        "the read step's record landed with the transactional step's, and was replayed on the retry"
    );
    if backend == Backend::Postgres {
        let writers = transactions(&db, run["id"].as_str().unwrap(), &["look it up", "store it"], false).await;
        assert_eq!(
            writers.len(),
            1,
            "the read step is recorded in the transactional step's transaction: {writers:?}"
        );
    }
    d.stop().await;
}

both!(a_read_step_last_is_recorded_with_the_runs_finish, with_finish_impl);
async fn with_finish_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.exec("CREATE TABLE lookup (v BIGINT NOT NULL)", &[]).await;
    db.exec("INSERT INTO lookup (v) VALUES (7)", &[]).await;
    let def = FunctionDef::new("looker", "Looker", move |ctx| async move {
        let v: i64 = tx_step::read(&ctx.step, "look it up", |tx| Box::pin(read_v(tx))).await?;
        Ok(json!(v))
    })
    .trigger(Trigger::event("test/look"));
    let d = InProc::start(&db.url, vec![def], &[]).await;
    let ids = d.api.send(json!({"name": "test/look"})).await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!(7));
    assert_eq!(run["steps"][0]["output"], json!(7), "{run}");
    if backend == Backend::Postgres {
        let writers = transactions(&db, run["id"].as_str().unwrap(), &["look it up"], true).await;
        assert_eq!(
            writers.len(),
            1,
            "the read step and the run's finish are one transaction: {writers:?}"
        );
    }
    d.stop().await;
}

both!(a_read_step_cannot_write, read_only_impl);
async fn read_only_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.exec("CREATE TABLE lookup (v BIGINT NOT NULL)", &[]).await;
    let def = FunctionDef::new("writer", "Writer", move |ctx| async move {
        let n: usize = tx_step::read(&ctx.step, "sneak a write", |tx| {
            Box::pin(async move {
                use diesel_async::RunQueryDsl;
                ingot::with_tx!(tx, |c| diesel::sql_query("INSERT INTO lookup (v) VALUES (1)")
                    .execute(c)
                    .await)
                .map_err(|e| StepError::fatal(format!("refused: {e}")))
            })
        })
        .await?;
        Ok(json!(n))
    })
    .trigger(Trigger::event("test/write"));
    let d = InProc::start(&db.url, vec![def], &[]).await;
    let ids = d.api.send(json!({"name": "test/write"})).await;
    d.api.drain().await;
    let run = &d.api.runs_of(&ids[0]).await[0];
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].to_string().to_lowercase();
    assert!(
        error.contains("refused") && (error.contains("read-only") || error.contains("readonly")),
        "the write is refused as read-only: {error}"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM lookup", &[]).await,
        0,
        "nothing was written"
    );
    // The read connection is usable again, and writable where the pool's other callers write.
    let d2 = d;
    let ids = d2.api.send(json!({"name": "test/write", "id": "second"})).await;
    d2.api.drain().await;
    assert_eq!(d2.api.runs_of(&ids[0]).await[0]["status"], "failed");
    d2.stop().await;
}
