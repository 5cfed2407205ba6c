//! Retention (src/store/retention.rs), on the store itself and through `ingot prune`, both backends: rows older
//! than the horizon go, the rest stay, unfinished runs and the events they need are untouched, windows expire on
//! their own clock, passes are bounded, and the preview counts exactly what a pass removes.

use crate::both;
use crate::support::process::{base_env, run_to_end};
use crate::support::{Backend, TestDb};
use ingot::store::retention::{Policy, Pruned, preview, prune};

const DAY: i64 = 86_400_000;
const NOW: i64 = 100 * DAY;

fn policy(batch: i64, max_batches: usize) -> Policy {
    Policy {
        horizon_ms: NOW - 30 * DAY,
        batch,
        max_batches,
    }
}

async fn event(db: &TestDb, id: &str, received_at: i64) {
    db.exec(
        "INSERT INTO events (id, name, data, user_data, ts, received_at) \
         VALUES ($1, 'test/e', '{}', '{}', 0, CAST($2 AS BIGINT))",
        &[id, &received_at.to_string()],
    )
    .await;
}

/// A run of `event` in `status`; final runs finished at `finished_at`; two steps each.
async fn run(db: &TestDb, id: &str, event: &str, status: &str, finished_at: Option<i64>, notify_pending: bool) {
    let finished = finished_at.map(|f| f.to_string()).unwrap_or_default();
    db.exec(
        "INSERT INTO runs (id, function_id, event_id, status, run_at, lease_token, created_at, updated_at, \
         finished_at, notify_pending) VALUES ($1, 'f', $2, $3, 0, 1, 0, 0, CAST(NULLIF($4, '') AS BIGINT), CAST($5 AS BOOLEAN))",
        &[id, event, status, &finished, if notify_pending { "1" } else { "0" }],
    )
    .await;
    for (i, key) in ["a", "b"].iter().enumerate() {
        db.exec(
            "INSERT INTO steps (run_id, step_key, attempt, position, name, status, started_at, finished_at) \
             VALUES ($1, $2, 0, CAST($3 AS INTEGER), $2, 'completed', 0, 0)",
            &[id, key, &i.to_string()],
        )
        .await;
    }
}

async fn seed(db: &TestDb) {
    let old = NOW - 40 * DAY;
    // An old finished run: it, its steps and its event go; the skip recorded on its event goes too.
    event(db, "e-done", old).await;
    run(db, "r-done", "e-done", "completed", Some(NOW - 35 * DAY), false).await;
    db.exec(
        "INSERT INTO run_skips (event_id, function_id, reason, existing_run_id) \
         VALUES ('e-done', 'g', 'idempotency_key', 'r-x')",
        &[],
    )
    .await;
    // An old failed batch run: its run_events go, and both batch events with it.
    event(db, "e-batch-1", old).await;
    event(db, "e-batch-2", old).await;
    run(db, "r-batch", "e-batch-1", "failed", Some(NOW - 31 * DAY), false).await;
    for (pos, e) in [(0, "e-batch-1"), (1, "e-batch-2")] {
        db.exec(
            "INSERT INTO run_events (run_id, position, event_id) VALUES ('r-batch', CAST($1 AS INTEGER), $2)",
            &[&pos.to_string(), e],
        )
        .await;
    }
    // Kept: finished recently (its old event stays with it), unfinished, not yet told its parent.
    event(db, "e-recent", old).await;
    run(db, "r-recent", "e-recent", "completed", Some(NOW - DAY), false).await;
    event(db, "e-sleeping", old).await;
    run(db, "r-sleeping", "e-sleeping", "sleeping", None, false).await;
    event(db, "e-notify", old).await;
    run(db, "r-notify", "e-notify", "completed", Some(NOW - 35 * DAY), true).await;
    // Events without runs: an old one goes, a new one stays.
    event(db, "e-orphan", old).await;
    event(db, "e-new", NOW - DAY).await;
    // Windows expire by their own clock.
    for (table, cols, values) in [
        (
            "event_ids",
            "external_id, event_id, expires_at",
            ["'x-expired', 'e-new', 99", "'x-live', 'e-new', 99"],
        ),
        (
            "idempotency_keys",
            "function_id, key, run_id, expires_at",
            ["'f', 'k-expired', 'r', 99", "'f', 'k-live', 'r', 99"],
        ),
    ] {
        db.exec(
            &format!(
                "INSERT INTO {table} ({cols}) VALUES ({})",
                values[0].replace("99", &(NOW - 1).to_string())
            ),
            &[],
        )
        .await;
        db.exec(
            &format!(
                "INSERT INTO {table} ({cols}) VALUES ({})",
                values[1].replace("99", &(NOW + 1000).to_string())
            ),
            &[],
        )
        .await;
    }
    for (id, at) in [("o-old", old), ("o-new", NOW - DAY)] {
        db.exec(
            "INSERT INTO outbound_requests (id, service, method, url, headers, created_at) \
             VALUES ($1, 'slack', 'POST', 'http://x', '{}', CAST($2 AS BIGINT))",
            &[id, &at.to_string()],
        )
        .await;
    }
    // Cron ticks: the newest tick of each schedule stays, even when it is older than the horizon.
    for (schedule, at) in [
        ("A", NOW - 60 * DAY),
        ("A", NOW - 50 * DAY),
        ("B", NOW - 45 * DAY),
        ("B", NOW - DAY),
    ] {
        db.exec(
            "INSERT INTO cron_ticks (function_id, schedule, tick_at, event_id) VALUES ('c', $1, CAST($2 AS BIGINT), 'e')",
            &[schedule, &at.to_string()],
        )
        .await;
    }
    for (key, at) in [("old", old), ("new", NOW - DAY)] {
        db.exec(
            "INSERT INTO rate_limits (function_id, key, window_start, count) VALUES ('f', $1, CAST($2 AS BIGINT), 1)",
            &[key, &at.to_string()],
        )
        .await;
    }
    // Audit: an old action (a rerun, linked to two runs) goes with its links; a recent one stays.
    for (id, at) in [("a-old", old), ("a-new", NOW - DAY)] {
        db.exec(
            "INSERT INTO actions (id, at, actor, action, params, result) \
             VALUES ($1, CAST($2 AS BIGINT), 'anonymous', 'rerun', '{}', '{}')",
            &[id, &at.to_string()],
        )
        .await;
        for run in ["r-done", "r-recent"] {
            db.exec(
                "INSERT INTO action_runs (action_id, run_id) VALUES ($1, $2)",
                &[id, run],
            )
            .await;
        }
    }
    // Nodes: one gone long ago goes; one gone long ago that still holds a run stays.
    for id in ["n-gone", "n-holding"] {
        db.exec(
            "INSERT INTO nodes (id, started_at, heartbeat_at) VALUES ($1, 0, CAST($2 AS BIGINT))",
            &[id, &old.to_string()],
        )
        .await;
    }
    db.exec("UPDATE runs SET lease_owner = 'n-holding' WHERE id = 'r-sleeping'", &[])
        .await;
}

fn expected() -> Pruned {
    Pruned {
        runs: 2,
        steps: 4,
        waits: 0,
        run_events: 2,
        events: 4,
        run_skips: 1,
        event_ids: 1,
        idempotency_keys: 1,
        outbound_requests: 1,
        cron_ticks: 2,
        rate_limits: 1,
        nodes: 1,
        actions: 1,
        action_runs: 2,
    }
}

async fn ids(db: &TestDb, table: &str, column: &str) -> Vec<String> {
    let mut out = Vec::new();
    for candidate in [
        "r-done",
        "r-batch",
        "r-recent",
        "r-sleeping",
        "r-notify",
        "e-done",
        "e-batch-1",
        "e-batch-2",
        "e-recent",
        "e-sleeping",
        "e-notify",
        "e-orphan",
        "e-new",
        "n-gone",
        "n-holding",
    ] {
        let n = db
            .count(
                &format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = $1"),
                &[candidate],
            )
            .await;
        if n > 0 {
            out.push(candidate.to_string());
        }
    }
    out
}

both!(prunes_what_the_horizon_no_longer_keeps, prunes_impl);
async fn prunes_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    seed(&db).await;
    let before = preview(&db.db, NOW, &policy(500, 20)).await.unwrap();
    assert_eq!(before, expected(), "the preview counts what a pass will remove");
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM runs", &[]).await,
        5,
        "a preview changes nothing"
    );

    let pruned = prune(&db.db, NOW, &policy(500, 20)).await.unwrap();
    assert_eq!(pruned, expected());
    assert_eq!(ids(&db, "runs", "id").await, ["r-recent", "r-sleeping", "r-notify"]);
    assert_eq!(
        ids(&db, "events", "id").await,
        ["e-recent", "e-sleeping", "e-notify", "e-new"],
        "events a kept run refers to stay"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM steps", &[]).await,
        6,
        "the kept runs' steps stay"
    );
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM run_events", &[]).await, 0);
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM run_skips", &[]).await, 0);
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM event_ids WHERE external_id = 'x-live'", &[])
            .await,
        1
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM idempotency_keys WHERE key = 'k-live'", &[])
            .await,
        1
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM outbound_requests WHERE id = 'o-new'", &[])
            .await,
        1
    );
    let a = NOW - 50 * DAY;
    let b = NOW - DAY;
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM cron_ticks WHERE (schedule = 'A' AND tick_at = CAST($1 AS BIGINT)) \
             OR (schedule = 'B' AND tick_at = CAST($2 AS BIGINT))",
            &[&a.to_string(), &b.to_string()]
        )
        .await,
        2,
        "the newest tick of each schedule stays"
    );
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM cron_ticks", &[]).await, 2);
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM rate_limits WHERE key = 'new'", &[])
            .await,
        1
    );
    assert_eq!(ids(&db, "nodes", "id").await, ["n-holding"]);
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM action_runs WHERE action_id = 'a-new'", &[])
            .await,
        2,
        "a recent action keeps its links"
    );
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM actions", &[]).await, 1);

    let again = prune(&db.db, NOW, &policy(500, 20)).await.unwrap();
    assert_eq!(again, Pruned::default(), "a second pass finds nothing");
}

both!(passes_are_bounded, bounded_impl);
async fn bounded_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    for i in 0..7 {
        let (e, r) = (format!("e{i}"), format!("r{i}"));
        event(&db, &e, NOW - 40 * DAY).await;
        run(&db, &r, &e, "completed", Some(NOW - 35 * DAY), false).await;
    }
    // Batches of 2, at most 2 per pass: 4 runs go in the first pass, 3 in the second.
    let first = prune(&db.db, NOW, &policy(2, 2)).await.unwrap();
    assert_eq!(first.runs, 4);
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM runs", &[]).await, 3);
    let second = prune(&db.db, NOW, &policy(2, 2)).await.unwrap();
    assert_eq!(second.runs, 3);
    assert_eq!(first.events + second.events, 7);
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM events", &[]).await, 0);
}

both!(ingot_prune_dry_run_changes_nothing, cli_impl);
async fn cli_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Real time: the binary prunes at its own now, so the rows are placed relative to it.
    let now = ingot_actors::time::now_ms();
    event(&db, "e-old", now - 40 * DAY).await;
    run(&db, "r-old", "e-old", "completed", Some(now - 35 * DAY), false).await;
    event(&db, "e-kept", now - 40 * DAY).await;
    run(&db, "r-kept", "e-kept", "completed", Some(now - DAY), false).await;
    let mut env = base_env(&db.url);
    env.push(("INGOT_RETENTION".into(), "30d".into()));

    let (status, stdout, stderr) = run_to_end(&["prune", "--dry-run"], &env);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("would remove 4 rows"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["runs", "1"]),
        "{stdout}"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM runs", &[]).await,
        2,
        "a dry run changes nothing"
    );

    let (status, stdout, stderr) = run_to_end(&["prune"], &env);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("removed 4 rows"), "{stdout}");
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM runs WHERE id = 'r-kept'", &[])
            .await,
        1
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM runs WHERE id = 'r-old'", &[]).await,
        0
    );

    let mut bad = env.clone();
    bad.push(("INGOT_RETENTION".into(), "10m".into()));
    let (status, _, stderr) = run_to_end(&["prune"], &bad);
    assert!(!status.success());
    assert!(stderr.contains("INGOT_RETENTION"), "{stderr}");
}
