//! The claim's order and look-ahead, on the store itself (both backends): runs already under way (a sleeper
//! about to wake, a due wait) go before runs that have not started; a sleeper is claimed `wake_ahead` early, a
//! waiting run or a retry only when due; `next_wake` tells a pool when to look again; and the runs of a claim
//! whose answer was lost are handed back (`release_in_doubt`).

use crate::both;
use crate::support::{Backend, TestDb};
use ingot::store::runs::DbRunStore;
use ingot_actors::flow::ClaimLimits;
use ingot_actors::store::{ClaimRequest, RunStore};

const F: &str = "f";
const NOW: i64 = 1_000_000;

async fn setup(backend: Backend) -> (TestDb, DbRunStore) {
    let db = TestDb::new(backend).await;
    db.exec(
        "INSERT INTO events (id, name, data, user_data, ts, received_at) VALUES ('e', 'test/e', '{}', '{}', 0, 0)",
        &[],
    )
    .await;
    // The claiming node is alive: what it claims is not rescued by its next claim.
    db.exec(
        "INSERT INTO nodes (id, started_at, heartbeat_at) VALUES ('n', 0, CAST($1 AS BIGINT))",
        &[&NOW.to_string()],
    )
    .await;
    let store = DbRunStore::new(db.db.clone());
    (db, store)
}

/// A run of `F` in `status`, due at `run_at`; started once already unless it is `queued`.
async fn run(db: &TestDb, id: &str, status: &str, run_at: i64) {
    let token = if status == "queued" { "0" } else { "1" };
    db.exec(
        "INSERT INTO runs (id, function_id, event_id, status, run_at, lease_token, created_at, updated_at) \
         VALUES ($1, 'f', 'e', $2, CAST($3 AS BIGINT), CAST($4 AS BIGINT), 0, 0)",
        &[id, status, &run_at.to_string(), token],
    )
    .await;
}

async fn claim(store: &DbRunStore, limit: usize, ahead: i64) -> Vec<String> {
    claim_with(store, limit, ahead, ClaimLimits::default()).await
}

async fn claim_with(store: &DbRunStore, limit: usize, ahead: i64, limits: ClaimLimits) -> Vec<String> {
    let req = ClaimRequest {
        function_id: F.into(),
        node_id: "n".into(),
        limit,
        now_ms: NOW,
        stale_before_ms: NOW - 30_000,
        wake_by_ms: NOW + ahead,
        limits,
    };
    let claimed = store.claim(req).await.expect("claim");
    // Which runs, not in which order the database returned them.
    let mut ids: Vec<String> = claimed.into_iter().map(|r| r.lease.run_id).collect();
    ids.sort();
    ids
}

both!(runs_under_way_are_claimed_before_new_ones, order_impl);
async fn order_impl(backend: Backend) {
    let (db, store) = setup(backend).await;
    // New runs queued long ago, a sleeper and a timed-out wait that came due just now.
    run(&db, "new-1", "queued", NOW - 5_000).await;
    run(&db, "new-2", "queued", NOW - 4_000).await;
    run(&db, "sleeper", "sleeping", NOW - 10).await;
    run(&db, "waiter", "waiting", NOW - 20).await;
    assert_eq!(claim(&store, 2, 0).await, ["sleeper", "waiter"]);
    assert_eq!(claim(&store, 1, 0).await, ["new-1"]);
    assert_eq!(claim(&store, 5, 0).await, ["new-2"]);
    assert!(claim(&store, 5, 0).await.is_empty());
}

both!(limited_claims_also_take_runs_under_way_first, limited_order_impl);
async fn limited_order_impl(backend: Backend) {
    let (db, store) = setup(backend).await;
    run(&db, "new-1", "queued", NOW - 5_000).await;
    run(&db, "sleeper", "sleeping", NOW - 10).await;
    run(&db, "waiter", "waiting", NOW - 20).await;
    // A function with priority rules claims through the limited path (a transaction that picks candidates).
    let limits = ClaimLimits {
        by_priority: true,
        ..ClaimLimits::default()
    };
    assert_eq!(claim_with(&store, 2, 0, limits).await, ["sleeper", "waiter"]);
    assert_eq!(claim_with(&store, 2, 0, limits).await, ["new-1"]);
}

both!(only_sleepers_are_claimed_ahead_of_time, ahead_impl);
async fn ahead_impl(backend: Backend) {
    let (db, store) = setup(backend).await;
    run(&db, "sleeper-soon", "sleeping", NOW + 200).await;
    run(&db, "sleeper-later", "sleeping", NOW + 400).await;
    run(&db, "waiter-soon", "waiting", NOW + 100).await;
    run(&db, "retry-soon", "queued", NOW + 100).await;
    assert!(claim(&store, 10, 0).await.is_empty(), "nothing is due");
    assert_eq!(claim(&store, 10, 250).await, ["sleeper-soon"]);

    // The next look: the later sleeper 250 ms early, unless a wait or retry comes due before.
    assert_eq!(store.next_wake(F, NOW, 250).await.unwrap(), Some(NOW + 100));
    db.exec("DELETE FROM runs WHERE id IN ('waiter-soon', 'retry-soon')", &[])
        .await;
    assert_eq!(store.next_wake(F, NOW, 250).await.unwrap(), Some(NOW + 150));
    assert_eq!(store.next_wake(F, NOW + 150, 250).await.unwrap(), None);
    assert_eq!(store.next_wake("other", NOW, 250).await.unwrap(), None);
}

both!(runs_of_a_lost_claim_are_handed_back, in_doubt_impl);
async fn in_doubt_impl(backend: Backend) {
    let (db, store) = setup(backend).await;
    // Claimed earlier and still executing on this node: untouched.
    run(&db, "earlier", "queued", NOW - 5_000).await;
    assert_eq!(claim(&store, 1, 0).await, ["earlier"]);
    db.exec(
        "UPDATE runs SET updated_at = CAST($1 AS BIGINT) WHERE id = 'earlier'",
        &[&(NOW - 1_000).to_string()],
    )
    .await;
    // A claim at NOW whose answer was lost: it committed, nobody executes its runs.
    run(&db, "lost-1", "queued", NOW - 10).await;
    run(&db, "lost-2", "queued", NOW - 10).await;
    run(&db, "kept", "queued", NOW - 10).await;
    assert_eq!(claim(&store, 5, 0).await, ["kept", "lost-1", "lost-2"]);
    // `kept` was started by a later claim and runs here: the pool names it.
    let released = store
        .release_in_doubt(F, "n", NOW, &["kept".to_string()], NOW)
        .await
        .expect("release");
    assert_eq!(released, 2);
    let status = |id: &'static str| {
        let db = &db;
        async move {
            db.count(
                &format!(
                    "SELECT COUNT(*) AS n FROM runs WHERE id = '{id}' AND status = 'queued' AND lease_owner IS NULL"
                ),
                &[],
            )
            .await
        }
    };
    assert_eq!(
        (status("lost-1").await, status("lost-2").await),
        (1, 1),
        "handed back, due at once"
    );
    assert_eq!(
        (status("kept").await, status("earlier").await),
        (0, 0),
        "runs executing here stay theirs"
    );
    // Another node's runs and another function's are never touched.
    assert_eq!(store.release_in_doubt("other", "n", 0, &[], NOW).await.unwrap(), 0);
    assert_eq!(
        store.release_in_doubt(F, "other-node", 0, &[], NOW + 6).await.unwrap(),
        0
    );
    // They are claimed again.
    assert_eq!(claim(&store, 5, 0).await, ["lost-1", "lost-2"]);
}

both!(
    a_run_whose_data_cannot_be_read_is_claimed_alone_to_fail,
    unreadable_impl
);
async fn unreadable_impl(backend: Backend) {
    let (db, store) = setup(backend).await;
    // A trigger event whose data does not parse, and a sleeper with a step output that does not.
    db.exec(
        "INSERT INTO events (id, name, data, user_data, ts, received_at) VALUES ('bad', 'test/e', '{', '{}', 0, 0)",
        &[],
    )
    .await;
    for (id, status) in [
        ("good", "queued"),
        ("bad-event", "queued"),
        ("bad-step", "sleeping"),
        ("good-2", "queued"),
    ] {
        run(&db, id, status, NOW - 1_000).await;
    }
    db.exec("UPDATE runs SET event_id = 'bad' WHERE id = 'bad-event'", &[])
        .await;
    db.exec(
        "INSERT INTO steps (run_id, step_key, attempt, position, name, status, output, started_at, finished_at) \
         VALUES ('bad-step', 'k', 0, 0, 'k', 'completed', 'not json', 0, 0)",
        &[],
    )
    .await;
    for limits in [
        ClaimLimits::default(),
        ClaimLimits {
            concurrency: Some(10),
            ..Default::default()
        },
    ] {
        let req = ClaimRequest {
            function_id: F.into(),
            node_id: "n".into(),
            limit: 10,
            now_ms: NOW,
            stale_before_ms: NOW - 30_000,
            wake_by_ms: NOW,
            limits,
        };
        let mut claimed = store
            .claim(req)
            .await
            .expect("the claim succeeds, the unreadable runs in it");
        claimed.sort_by(|a, b| a.lease.run_id.cmp(&b.lease.run_id));
        let seen: Vec<(&str, bool, bool)> = claimed
            .iter()
            .map(|r| (r.lease.run_id.as_str(), r.unreadable.is_some(), r.event.is_null()))
            .collect();
        assert_eq!(
            seen,
            [
                ("bad-event", true, true),
                ("bad-step", true, true),
                ("good", false, false),
                ("good-2", false, false)
            ],
            "{limits:?}"
        );
        assert!(
            claimed[0].unreadable.as_deref().unwrap().contains("does not parse"),
            "{:?}",
            claimed[0].unreadable
        );
        assert_eq!(claimed[1].steps.as_deref(), Some(&[][..]), "nothing left to load");
        assert_eq!(claimed[2].event["name"], "test/e");
        // Back in the queue for the next round (what the run actors would have written, here by hand).
        db.exec("UPDATE runs SET status = 'queued', lease_owner = NULL", &[])
            .await;
    }
    // Failed for it, the run's end is still told (the outbox's poll is not stuck on it), with a null event.
    db.exec(
        "UPDATE runs SET status = 'failed', finished_at = 1, notify_pending = TRUE WHERE id = 'bad-event'",
        &[],
    )
    .await;
    let told = store
        .pending_notifications(10)
        .await
        .expect("the outbox reads past the unreadable event");
    assert_eq!(told.len(), 1);
    assert_eq!((told[0].run_id.as_str(), told[0].event.is_null()), ("bad-event", true));
}
