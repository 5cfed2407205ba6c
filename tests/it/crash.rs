//! Crash safety with the real binary: kill -9 while runs are in flight, restart, and nothing is lost or done twice.
//! SIGTERM stops gracefully with exit code 0. `user/created` also starts `user-signup-admin-email` (two steps, no
//! email without ADMIN_EMAIL); the counts below are `user-created`'s.

use crate::both;
use crate::support::process::{Daemon, base_env};
use crate::support::{Backend, TestDb};
use serde_json::{Value, json};

const USERS: usize = 1000;

both!(kill9_mid_flight_then_restart, kill9_impl);
async fn kill9_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let users: Vec<(String, String)> = (0..USERS)
        .map(|i| (format!("user-{i:04}"), format!("user{i}@example.com")))
        .collect();
    db.insert_users(&users).await;
    let mut env = base_env(&db.url);
    env.push(("INGOT_MAX_RUNS_PER_FUNCTION".into(), "4".into()));
    let d = Daemon::start(&env);
    for chunk in users.chunks(100) {
        let events: Vec<Value> = chunk
            .iter()
            .map(|(id, email)| json!({"name": "user/created", "user": {"id": id, "email": email}}))
            .collect();
        d.api.send(Value::Array(events)).await;
    }
    d.kill9();

    // Every acknowledged event has its run, and the crash left work unfinished.
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM events", &[]).await, USERS as i64);
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM runs WHERE function_id = 'user-created'", &[])
            .await,
        USERS as i64
    );
    let unfinished = db
        .count("SELECT COUNT(*) AS n FROM runs WHERE status <> 'completed'", &[])
        .await;
    assert!(
        unfinished > 0,
        "the kill came after all runs finished; the test proved nothing"
    );

    let d = Daemon::start(&base_env(&db.url));
    d.api.drain().await;
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM runs WHERE status = 'completed' AND function_id = 'user-created'",
            &[]
        )
        .await,
        USERS as i64
    );
    let without_one_role = db
        .count(
            "SELECT COUNT(*) AS n FROM users u WHERE (SELECT COUNT(*) FROM user_roles r WHERE r.user_id = u.id) <> 1",
            &[],
        )
        .await;
    assert_eq!(without_one_role, 0, "every user has exactly one role");
    let without_one_pref = db
        .count(
            "SELECT COUNT(*) AS n FROM users u WHERE (SELECT COUNT(*) FROM communication_preferences p \
             WHERE p.user_id = u.id AND p.preference_type_id = 'preference_newsletter') <> 1",
            &[],
        )
        .await;
    assert_eq!(without_one_pref, 0, "every user has exactly one Newsletter preference");
    // Five steps per run, each completed exactly once.
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM steps WHERE status = 'completed' AND run_id IN (SELECT id FROM runs WHERE function_id = 'user-created')", &[])
            .await,
        5 * USERS as i64
    );
    assert!(
        d.log_text().contains("resuming runs this node held"),
        "restart released the crashed node's runs:\n{}",
        d.log_text()
    );
}

both!(sigterm_stops_gracefully, sigterm_impl);
async fn sigterm_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let users: Vec<(String, String)> = (0..200)
        .map(|i| (format!("u{i}"), format!("u{i}@example.com")))
        .collect();
    db.insert_users(&users).await;
    let d = Daemon::start(&base_env(&db.url));
    let events: Vec<Value> = users
        .iter()
        .map(|(id, email)| json!({"name": "user/created", "user": {"id": id, "email": email}}))
        .collect();
    d.api.send(Value::Array(events)).await;
    let logs = d.logs.clone();
    let status = d.terminate();
    assert!(status.success(), "exit status {status}");
    let left = db
        .count("SELECT COUNT(*) AS n FROM runs WHERE status = 'running'", &[])
        .await;
    assert_eq!(left, 0, "nothing left claimed:\n{}", logs.lock().unwrap().join("\n"));
    let d = Daemon::start(&base_env(&db.url));
    d.api.drain().await;
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM runs WHERE status = 'completed' AND function_id = 'user-created'",
            &[]
        )
        .await,
        200
    );
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM user_roles", &[]).await, 200);
    let status = d.terminate();
    assert!(status.success());
}

both!(another_daemon_rescues_a_dead_nodes_runs, rescue_impl);
async fn rescue_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let users: Vec<(String, String)> = (0..300)
        .map(|i| (format!("r{i}"), format!("r{i}@example.com")))
        .collect();
    db.insert_users(&users).await;
    let node = |id: &str| {
        let mut env = base_env(&db.url);
        env.retain(|(k, _)| k != "INGOT_NODE_ID");
        env.extend([
            ("INGOT_NODE_ID".to_string(), id.to_string()),
            ("INGOT_LEASE_TTL".to_string(), "1s".to_string()),
            ("INGOT_MAX_RUNS_PER_FUNCTION".to_string(), "4".to_string()),
        ]);
        env
    };
    let a = Daemon::start(&node("node-a"));
    let events: Vec<Value> = users
        .iter()
        .map(|(id, email)| json!({"name": "user/created", "user": {"id": id, "email": email}}))
        .collect();
    a.api.send(Value::Array(events)).await;
    // Kill it once it holds runs: ask until the API shows one running (each answer is a round trip, no sleep).
    let mut running = false;
    for _ in 0..1000 {
        if !a.api.get_ok("/api/v1/runs?status=running&limit=1").await["runs"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            running = true;
            break;
        }
    }
    assert!(running, "node-a never started a run");
    a.kill9();
    let held = db
        .count(
            "SELECT COUNT(*) AS n FROM runs WHERE status = 'running' AND lease_owner = 'node-a'",
            &[],
        )
        .await;
    assert!(held > 0, "node-a died holding no run; nothing to rescue");

    // node-b never heard of node-a's runs: it rescues them once node-a's heartbeat is a lease TTL old.
    let b_daemon = Daemon::start(&node("node-b"));
    b_daemon.api.drain().await;
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM runs WHERE status = 'completed' AND function_id = 'user-created'",
            &[]
        )
        .await,
        300
    );
    let rescued = db
        .count(
            "SELECT COUNT(*) AS n FROM runs WHERE lease_token >= 2 AND lease_owner = 'node-b'",
            &[],
        )
        .await;
    assert!(rescued >= held, "rescued {rescued} of the {held} runs node-a held");
    let without_one_role = db
        .count(
            "SELECT COUNT(*) AS n FROM users u WHERE (SELECT COUNT(*) FROM user_roles r WHERE r.user_id = u.id) <> 1",
            &[],
        )
        .await;
    assert_eq!(without_one_role, 0);
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM steps WHERE status = 'completed' AND run_id IN (SELECT id FROM runs WHERE function_id = 'user-created')", &[])
            .await,
        5 * 300
    );
}
