//! Failure isolation in the group-commit writer, on the store itself (both backends): a batch holding a write the
//! database refuses commits every other write, and only the refused one fails — with its class (a refused value
//! is not retryable), so no unrelated run spends a retry on it.

use crate::both;
use crate::support::{Backend, TestDb};
use ingot::store::runs::writer::{Done, TxDone, TxWrite, Write, apply_batch};
use ingot_actors::StepError;
use ingot_actors::run::state::StepStatus;
use ingot_actors::store::StoreError;
use serde_json::json;

async fn running(db: &TestDb, id: &str) {
    db.exec(
        "INSERT INTO runs (id, function_id, event_id, status, run_at, lease_token, created_at, updated_at) \
         VALUES ($1, 'f', 'e', 'running', 0, 1, 0, 0)",
        &[id],
    )
    .await;
}

fn step(run_id: &str, name: &str, status: StepStatus) -> Write {
    Write::Step {
        run_id: run_id.into(),
        token: 1,
        key: name.into(),
        attempt: 1,
        position: 0,
        name: name.into(),
        status,
        output: Some("{\"ok\":true}".into()),
        error: None,
        started_at: 1,
        finished_at: 2,
        retry_at: None,
        kind: "run".into(),
        wake_at: None,
    }
}

both!(
    a_refused_write_fails_alone_and_the_rest_of_its_batch_commits,
    isolation_impl
);
async fn isolation_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.exec(
        "INSERT INTO events (id, name, data, user_data, ts, received_at) VALUES ('e', 'test/e', '{}', '{}', 0, 0)",
        &[],
    )
    .await;
    for i in 0..6 {
        running(&db, &format!("r{i}")).await;
    }
    // Good writes around two poisoned ones: a status the steps table's CHECK refuses (both backends), and a NUL
    // byte in a step name (PostgreSQL refuses it: "invalid byte sequence"; SQLite stores it, so it commits there).
    let writes = vec![
        step("r0", "a", StepStatus::Completed),
        step("r1", "b", StepStatus::Completed),
        step("r2", "checked", StepStatus::Pending),
        step("r3", "c", StepStatus::Completed),
        step("r4", "nul\0byte", StepStatus::Completed),
        step("r5", "d", StepStatus::Errored),
    ];
    let results = apply_batch(&db.db, &writes).await;
    assert_eq!(results.len(), writes.len());
    let refused = |i: usize| i == 2 || (i == 4 && backend == Backend::Postgres);
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(done) => {
                let Done::Rows(n) = done else {
                    panic!("write {i} is a plain write: {done:?}")
                };
                assert!(
                    !refused(i),
                    "write {i} was refused by the database, yet answered Ok({n})"
                );
                assert_eq!(n, 1, "write {i} committed its row");
            }
            Err(e) => {
                assert!(refused(i), "write {i} is good but failed: {e}");
                assert!(
                    !e.is_retryable() && !e.is_outage(),
                    "write {i}: a refused value keeps its class: {e}"
                );
                assert!(
                    matches!(StoreError::from(e), StoreError::Data(_)),
                    "write {i}: fatal, not an outage"
                );
            }
        }
    }
    let committed = db.count("SELECT COUNT(*) AS n FROM steps", &[]).await;
    let expected = if backend == Backend::Postgres { 4 } else { 5 };
    assert_eq!(committed, expected, "every good write committed");
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM steps WHERE run_id IN ('r2', 'r4') AND status = 'pending'",
            &[]
        )
        .await,
        0
    );
}

both!(an_all_good_batch_commits_in_one_go, clean_impl);
async fn clean_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.exec(
        "INSERT INTO events (id, name, data, user_data, ts, received_at) VALUES ('e', 'test/e', '{}', '{}', 0, 0)",
        &[],
    )
    .await;
    running(&db, "r").await;
    // A write whose guard does not match (another token) changes nothing, and is no error.
    let mut stale = step("r", "stale", StepStatus::Completed);
    if let Write::Step { token, .. } = &mut stale {
        *token = 7;
    }
    let writes = vec![step("r", "a", StepStatus::Completed), stale];
    let results: Vec<usize> = apply_batch(&db.db, &writes)
        .await
        .into_iter()
        .map(|r| match r.expect("no failure") {
            Done::Rows(n) => n,
            other => panic!("a plain write answered {other:?}"),
        })
        .collect();
    assert_eq!(results, [1, 0]);
}

/// A transactional step's work: inserts `(run_id, v)` into `tx_effects` (whose CHECK refuses a negative `v`), then
/// fails retryably if `fail`; returns `v`.
fn tx_write(run_id: &str, token: i64, v: i64, fail: bool) -> Write {
    let mut step = step(run_id, "book", StepStatus::Completed);
    if let Write::Step { token: t, output, .. } = &mut step {
        *t = token;
        *output = None;
    }
    let run = run_id.to_string();
    let work = ingot::store::tx_step::tx_fn(move |tx| {
        let sql = format!("INSERT INTO tx_effects (run_id, v) VALUES ('{run}', {v})");
        Box::pin(async move {
            use diesel_async::RunQueryDsl;
            ingot::with_tx!(tx, |c| diesel::sql_query(sql).execute(c).await)
                .map_err(|e| ingot::store::tx_step::classify(e.into()))?;
            if fail {
                return Err(StepError::retryable("the work failed after its insert"));
            }
            Ok(v)
        })
    });
    Write::Tx(TxWrite {
        step: Box::new(step),
        earlier: Vec::new(),
        work,
        max_output_bytes: 1 << 20,
    })
}

both!(
    a_failing_transactional_step_rolls_back_alone_and_its_batch_commits,
    tx_isolation_impl
);
async fn tx_isolation_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.exec(
        "INSERT INTO events (id, name, data, user_data, ts, received_at) VALUES ('e', 'test/e', '{}', '{}', 0, 0)",
        &[],
    )
    .await;
    db.exec(
        "CREATE TABLE tx_effects (run_id TEXT NOT NULL, v INTEGER NOT NULL CHECK (v >= 0))",
        &[],
    )
    .await;
    for i in 0..5 {
        running(&db, &format!("r{i}")).await;
    }
    let writes = vec![
        tx_write("r0", 1, 10, false),
        // Its work fails after its insert.
        tx_write("r1", 1, 11, true),
        // Its insert is refused (CHECK): a data error, fatal.
        tx_write("r2", 1, -1, false),
        // Not our run any more (another token): the attempt's guarded insert matches nothing.
        tx_write("r3", 7, 13, false),
        tx_write("r4", 1, 14, false),
        step("r0", "plain", StepStatus::Completed),
    ];
    let results = apply_batch(&db.db, &writes).await;
    let mut it = results.into_iter().map(|r| r.expect("no write fails its batch"));
    assert!(matches!(it.next(), Some(Done::Tx(TxDone::Written(v))) if v == json!(10)));
    assert!(matches!(it.next(), Some(Done::Tx(TxDone::Failed(e))) if e.is_retryable()));
    assert!(
        matches!(it.next(), Some(Done::Tx(TxDone::Failed(e))) if !e.is_retryable()),
        "a data error is fatal"
    );
    assert!(matches!(it.next(), Some(Done::Tx(TxDone::Missed))));
    assert!(matches!(it.next(), Some(Done::Tx(TxDone::Written(v))) if v == json!(14)));
    assert!(matches!(it.next(), Some(Done::Rows(1))));
    // Only the committed steps' writes are there, each with its completed attempt (its output the work's value).
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM tx_effects WHERE run_id IN ('r0', 'r4')", &[])
            .await,
        2
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM tx_effects", &[]).await,
        2,
        "rolled back to their savepoints"
    );
    for (run, output) in [("r0", "10"), ("r4", "14")] {
        assert_eq!(
            db.count(
                "SELECT COUNT(*) AS n FROM steps WHERE run_id = $1 AND step_key = 'book' AND status = 'completed' \
                 AND output = $2",
                &[run, output]
            )
            .await,
            1,
            "{run}'s memo"
        );
    }
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM steps WHERE step_key = 'book'", &[])
            .await,
        2,
        "no attempt recorded for the failed or fenced steps"
    );
}
