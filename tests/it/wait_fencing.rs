//! Wait fencing, on the store itself: an event that resolves a `wait_for_event` while its run is still `running`
//! (between the run's step persist and its suspension) makes the run's own `waiting` transition go straight back to
//! `queued`, due now — never left waiting until the wait's timeout. The resolution is recorded on the run's row
//! (`runs.resolved_at`), so on PostgreSQL the intake's transaction and the writer's meet on one row lock.

use crate::both;
use crate::support::{Backend, TestDb};
use ingot::store::Db;
use ingot::store::events::ingest_in;
use ingot::store::runs::DbRunStore;
use ingot_actors::event::NewEvent;
use ingot_actors::run::state::{RunEvent, RunStatus, StepStatus};
use ingot_actors::store::{Lease, RunChange, RunStore, StepAttempt, WaitSpec};
use serde_json::json;

const NOW: i64 = 1_000_000;
/// When the run's attempt began (its claim): resolutions since then make its suspension resume it.
const BEGAN: i64 = NOW - 100;
const TIMEOUT: i64 = NOW + 3_600_000;

/// A running run `r` whose step `w` waits for `test/paid` (its waiting attempt and its wait index, through the
/// store's `begin_wait`, as the step tool writes them).
async fn waiting_step(backend: Backend) -> (TestDb, DbRunStore, Lease) {
    let db = TestDb::new(backend).await;
    db.exec(
        "INSERT INTO events (id, name, data, user_data, ts, received_at) VALUES ('e', 'test/start', '{}', '{}', 0, 0)",
        &[],
    )
    .await;
    db.exec(
        "INSERT INTO runs (id, function_id, event_id, status, run_at, lease_token, created_at, updated_at) \
         VALUES ('r', 'f', 'e', 'running', 0, 1, 0, 0)",
        &[],
    )
    .await;
    let store = DbRunStore::new(db.db.clone());
    let lease = Lease {
        run_id: "r".into(),
        token: 1,
    };
    let attempt = StepAttempt {
        key: "w".into(),
        name: "w".into(),
        attempt: 0,
        position: 0,
        status: StepStatus::Waiting,
        output: None,
        error: None,
        started_at_ms: NOW - 50,
        finished_at_ms: NOW - 50,
        retry_at_ms: None,
        kind: "wait_for_event",
        wake_at_ms: Some(TIMEOUT),
    };
    let wait = WaitSpec {
        key: "w".into(),
        alternative: None,
        event_name: "test/paid".into(),
        expr: None,
        trigger_event: json!({"id": "e", "name": "test/start", "data": {}}),
        expires_at_ms: TIMEOUT,
    };
    store
        .begin_wait(&lease, &attempt, std::slice::from_ref(&wait), None)
        .await
        .expect("begin_wait");
    (db, store, lease)
}

/// The run actor's suspension: running → waiting until the timeout, resumed at once if a wait of this attempt
/// was resolved meanwhile.
fn suspension(at: i64) -> RunChange {
    RunChange {
        from: RunStatus::Running,
        to: RunStatus::Waiting,
        event: RunEvent::WaitStarted,
        output: None,
        error: None,
        run_at_ms: Some(TIMEOUT),
        attempt: 0,
        at_ms: at,
        notify: false,
        resolved_since_ms: Some(BEGAN),
        steps: Vec::new(),
    }
}

fn paid() -> NewEvent {
    NewEvent {
        id: "paid-1".into(),
        external_id: None,
        name: "test/paid".into(),
        data: json!({}),
        user: json!({}),
        ts: NOW,
        v: None,
        matches: Vec::new(),
    }
}

async fn status_and_run_at(db: &TestDb) -> (String, i64) {
    let queued = db
        .count(
            "SELECT COUNT(*) AS n FROM runs WHERE id = 'r' AND status = 'queued'",
            &[],
        )
        .await;
    let waiting = db
        .count(
            "SELECT COUNT(*) AS n FROM runs WHERE id = 'r' AND status = 'waiting'",
            &[],
        )
        .await;
    let run_at = db.count("SELECT run_at AS n FROM runs WHERE id = 'r'", &[]).await;
    let status = match (queued, waiting) {
        (1, 0) => "queued",
        (0, 1) => "waiting",
        _ => "other",
    };
    (status.to_string(), run_at)
}

both!(
    a_wait_resolved_while_its_run_runs_requeues_the_run_at_its_suspension,
    resolved_first_impl
);
async fn resolved_first_impl(backend: Backend) {
    let (db, store, lease) = waiting_step(backend).await;
    // The event's intake commits while the run is still running: nothing to resume yet.
    let woken = store.send_events(&[paid()], NOW).await.expect("intake");
    assert!(woken.is_empty(), "a running run is not resumed by the intake");
    assert_eq!(
        db.count("SELECT resolved_at AS n FROM runs WHERE id = 'r'", &[]).await,
        NOW
    );
    // Then the run suspends: its transition sees the resolution on its row and goes back to queued, due now.
    store.change_run(&lease, &suspension(NOW + 10)).await.expect("suspend");
    assert_eq!(status_and_run_at(&db).await, ("queued".to_string(), NOW + 10));
}

both!(
    a_wait_resolved_before_this_attempt_does_not_resume_it,
    older_resolution_impl
);
async fn older_resolution_impl(backend: Backend) {
    let (db, store, lease) = waiting_step(backend).await;
    // A resolution older than this attempt (one it already consumed) leaves the new wait waiting.
    db.exec(
        "UPDATE runs SET resolved_at = CAST($1 AS BIGINT) WHERE id = 'r'",
        &[&(BEGAN - 1).to_string()],
    )
    .await;
    store.change_run(&lease, &suspension(NOW + 10)).await.expect("suspend");
    assert_eq!(status_and_run_at(&db).await, ("waiting".to_string(), TIMEOUT));
}

/// The interleaving that stranded runs on PostgreSQL: the intake's transaction has resolved the wait (and found
/// the run running) but not committed when the run's suspension statement starts. Without the fence, the
/// suspension does not wait for the intake (no shared row) and decides from a snapshot without the resolution:
/// the run is left waiting. With it, the suspension waits on the run's row lock, then reads `resolved_at` from
/// the committed row: queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_resolution_committing_during_the_suspension_is_seen_by_it() {
    let (db, store, lease) = waiting_step(Backend::Postgres).await;
    let Db::Postgres { pool, .. } = &db.db else {
        unreachable!("a PostgreSQL test database")
    };
    let mut conn = pool.get().await.expect("a connection");
    let (resolved_tx, resolved_rx) = tokio::sync::oneshot::channel::<()>();
    let (commit_tx, commit_rx) = tokio::sync::oneshot::channel::<()>();
    let intake = tokio::spawn(async move {
        use diesel_async::AsyncConnection;
        let conn: &mut diesel_async::AsyncPgConnection = &mut conn;
        conn.transaction::<_, ingot::store::Error, _>(async |tx| {
            let ingested = ingest_in(tx, &[paid()], NOW).await?;
            assert!(ingested.woken.is_empty(), "the run is still running: nothing resumed");
            resolved_tx.send(()).expect("the test waits");
            commit_rx.await.expect("the test commits");
            Ok(())
        })
        .await
        .expect("the intake commits")
    });
    resolved_rx.await.expect("the intake resolved the wait");
    let suspend = {
        let (store, lease) = (store.clone(), lease.clone());
        tokio::spawn(async move { store.change_run(&lease, &suspension(NOW + 10)).await })
    };
    // The suspension must wait for the intake's transaction (the fence): either it is seen blocked on a lock, or
    // it finished without waiting — which is the bug, and the final status below shows it.
    let mut suspend = std::pin::pin!(suspend);
    let finished_early = tokio::select! {
        r = &mut suspend => Some(r),
        () = blocked_on_a_lock(&db) => None,
    };
    commit_tx.send(()).expect("the intake waits");
    intake.await.expect("intake task");
    let r = match finished_early {
        Some(r) => r,
        None => suspend.await,
    };
    r.expect("suspend task").expect("suspend");
    assert_eq!(
        status_and_run_at(&db).await,
        ("queued".to_string(), NOW + 10),
        "the resolution that raced the suspension resumed the run"
    );
}

/// Returns once a session of this database waits on a lock (PostgreSQL's own report; there is no notification to
/// await, so this polls it).
async fn blocked_on_a_lock(db: &TestDb) {
    loop {
        let n = db
            .count(
                "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock'",
                &[],
            )
            .await;
        if n > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
