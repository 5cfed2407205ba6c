//! Failure isolation in the group-commit writer, on the store itself (both backends): a batch holding a write the
//! database refuses commits every other write, and only the refused one fails — with its class (a refused value
//! is not retryable), so no unrelated run spends a retry on it.

use crate::both;
use crate::support::{Backend, TestDb};
use ingot::store::runs::writer::{Done, Write, apply_batch};
use ingot_actors::run::state::StepStatus;
use ingot_actors::store::StoreError;

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
