//! `POST /e/{key}`: events are stored with their runs before the 200; bad input is refused with a clear error and
//! stores nothing; producer ids and idempotency keys dedupe within 24 h.

use crate::both;
use crate::support::process::{Daemon, base_env};
use crate::support::{Backend, TestDb};
use serde_json::json;

async fn stored(db: &TestDb) -> (i64, i64) {
    (
        db.count("SELECT COUNT(*) AS n FROM events", &[]).await,
        db.count("SELECT COUNT(*) AS n FROM runs", &[]).await,
    )
}

both!(accepts_one_event_or_an_array, accepts_one_event_or_an_array_impl);
async fn accepts_one_event_or_an_array_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let d = Daemon::start(&base_env(&db.url));
    let one = d
        .api
        .send(json!({"name": "user/created", "user": {"id": "u1", "email": "a@example.com"}}))
        .await;
    assert_eq!(one.len(), 1);
    let many = d
        .api
        .send(json!([
            {"name": "misc/one", "data": {"n": 1}},
            {"name": "misc/two", "data": {"n": 2}, "id": "producer-2", "ts": 1_700_000_000_000i64, "v": "2024-01-01.1"},
            {"name": "misc/three"}
        ]))
        .await;
    assert_eq!(many.len(), 3);
    // In request order, each readable, with the producer's id and fields kept.
    let two = d.api.get_ok(&format!("/api/v1/events/{}", many[1])).await;
    assert_eq!(two["event"]["name"], "misc/two");
    assert_eq!(two["event"]["id"], "producer-2");
    assert_eq!(two["event"]["data"], json!({"n": 2}));
    assert_eq!(two["event"]["ts"], 1_700_000_000_000i64);
    assert_eq!(two["event"]["v"], "2024-01-01.1");
    assert_eq!(two["run_ids"], json!([]), "no function listens to misc/two");
    let first = d.api.get_ok(&format!("/api/v1/events/{}", one[0])).await;
    assert_eq!(
        first["run_ids"].as_array().unwrap().len(),
        2,
        "user/created starts user-created and user-signup-admin-email"
    );
    assert_eq!(stored(&db).await, (4, 2));
    d.api.drain().await;
}

both!(refuses_bad_input_and_stores_nothing, refuses_bad_input_impl);
async fn refuses_bad_input_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let mut env = base_env(&db.url);
    env.push(("INGOT_EVENT_KEYS".into(), "key-one,test-key".into()));
    let d = Daemon::start(&env);
    let big = "x".repeat(3 * 1024 * 1024 + 1);
    let too_many: Vec<_> = (0..5001)
        .map(|i| json!({"name": "user/created", "data": {"i": i}}))
        .collect();
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "malformed JSON",
            "{\"name\": \"user/created\"".into(),
            400,
            "Malformed JSON",
        ),
        ("not an event", "42".into(), 400, "event object or an array"),
        (
            "missing name",
            json!({"data": {}}).to_string(),
            400,
            "\"name\" is required",
        ),
        (
            "name of the wrong type",
            json!({"name": 1}).to_string(),
            400,
            "\"name\" must be a string",
        ),
        (
            "data of the wrong type",
            json!({"name": "user/created", "data": "x"}).to_string(),
            400,
            "\"data\" must be an object",
        ),
        (
            "user of the wrong type",
            json!({"name": "user/created", "user": [1]}).to_string(),
            400,
            "\"user\" must be an object",
        ),
        (
            "id of the wrong type",
            json!({"name": "user/created", "id": 5}).to_string(),
            400,
            "\"id\" must be a string",
        ),
        (
            "ts out of range",
            json!({"name": "user/created", "ts": 12}).to_string(),
            400,
            "\"ts\"",
        ),
        (
            "reserved name",
            json!({"name": "inngest/function.failed"}).to_string(),
            400,
            "reserved",
        ),
        (
            "one bad event spoils the batch",
            json!([{"name": "user/created"}, {"nope": 1}]).to_string(),
            400,
            "event 1",
        ),
        (
            "too many events",
            serde_json::Value::Array(too_many).to_string(),
            400,
            "Too many events",
        ),
        (
            "oversized event",
            json!({"name": "user/created", "data": {"blob": big}}).to_string(),
            413,
            "over the max size",
        ),
    ];
    for (what, body, status, message) in cases {
        let (got, answer) = d.api.send_raw("test-key", body).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert_eq!(answer["status"], status, "{what}: {answer}");
        assert!(
            answer["error"].as_str().unwrap_or_default().contains(message),
            "{what}: {answer}"
        );
        assert_eq!(answer["ids"], json!([]), "{what}");
    }
    let (got, answer) = d
        .api
        .send_raw("wrong-key", json!({"name": "user/created"}).to_string())
        .await;
    assert_eq!(got, 401, "{answer}");
    assert_eq!(answer["error"], "Event key not found");
    assert_eq!(stored(&db).await, (0, 0), "nothing from a refused request is stored");
    // The keys never reach the logs.
    let (ok, _) = d.api.send_raw("key-one", json!({"name": "misc/x"}).to_string()).await;
    assert_eq!(ok, 200);
    let logs = d.log_text();
    assert!(
        !logs.contains("key-one") && !logs.contains("wrong-key"),
        "event keys leaked into logs"
    );
}

both!(request_body_over_the_limit_is_413, request_body_limit_impl);
async fn request_body_limit_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let mut env = base_env(&db.url);
    env.push(("INGOT_MAX_REQUEST_BYTES".into(), "2048".into()));
    let d = Daemon::start(&env);
    let events: Vec<_> = (0..100).map(|i| json!({"name": "misc/x", "data": {"i": i}})).collect();
    let (status, answer) = d.api.send_raw("k", serde_json::Value::Array(events).to_string()).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(stored(&db).await, (0, 0));
}

both!(repeated_producer_id_starts_no_new_run, repeated_producer_id_impl);
async fn repeated_producer_id_impl(b: Backend) {
    let db = TestDb::new(b).await;
    db.insert_users(&[
        ("u1".into(), "a@example.com".into()),
        ("u2".into(), "b@example.com".into()),
    ])
    .await;
    let d = Daemon::start(&base_env(&db.url));
    let e =
        |uid: &str, email: &str| json!({"name": "user/created", "id": "evt-1", "user": {"id": uid, "email": email}});
    let first = d.api.send(e("u1", "a@example.com")).await;
    // Same producer id, even with other content and in a later request: stored, starts nothing.
    let second = d.api.send(json!([e("u2", "b@example.com")])).await;
    assert_ne!(first[0], second[0], "our ids differ");
    d.api.drain().await;
    let dup = d.api.get_ok(&format!("/api/v1/events/{}", second[0])).await;
    assert_eq!(dup["duplicate"], true);
    assert_eq!(dup["run_ids"], json!([]));
    assert_eq!(
        dup["skipped"],
        json!([
            {"function_id": "user-created", "reason": "duplicate_event_id", "existing_run_id": null},
            {"function_id": "user-signup-admin-email", "reason": "duplicate_event_id", "existing_run_id": null},
        ])
    );
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM runs", &[]).await, 2);
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM user_roles WHERE user_id = 'u2'", &[])
            .await,
        0
    ); // Within one request the first event with an id wins.
    let twice = json!({"name": "user/created", "id": "evt-2", "user": {"id": "u2", "email": "b@example.com"}});
    let pair = d.api.send(json!([twice.clone(), twice])).await;
    d.api.drain().await;
    let first = d.api.get_ok(&format!("/api/v1/events/{}", pair[0])).await;
    let second = d.api.get_ok(&format!("/api/v1/events/{}", pair[1])).await;
    assert_eq!(
        (first["duplicate"].as_bool(), second["duplicate"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(first["run_ids"].as_array().unwrap().len(), 2);
    assert_eq!(second["skipped"][0]["reason"], "duplicate_event_id");
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM user_roles WHERE user_id = 'u2'", &[])
            .await,
        1
    );
}

both!(idempotency_key_allows_one_run_per_key, idempotency_impl);
async fn idempotency_impl(b: Backend) {
    let db = TestDb::new(b).await;
    db.insert_users(&[("u1".into(), "a@example.com".into())]).await;
    let d = Daemon::start(&base_env(&db.url));
    let ev = json!({"name": "user/created", "user": {"id": "u1", "email": "a@example.com"}});
    let ids = d.api.send(json!([ev.clone(), ev.clone()])).await;
    let later = d.api.send(ev).await;
    d.api.drain().await;
    let first = d.api.get_ok(&format!("/api/v1/events/{}", ids[0])).await;
    // user-created and user-signup-admin-email, both keyed on the email.
    let mut run_ids: Vec<String> = first["run_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    run_ids.sort();
    assert_eq!(run_ids.len(), 2, "{first}");
    for id in [&ids[1], &later[0]] {
        let skipped = d.api.get_ok(&format!("/api/v1/events/{id}")).await;
        assert_eq!(skipped["run_ids"], json!([]));
        let mut existing: Vec<String> = skipped["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                assert_eq!(s["reason"], "idempotency_key", "{s}");
                s["existing_run_id"].as_str().unwrap().to_string()
            })
            .collect();
        existing.sort();
        assert_eq!(existing, run_ids);
    }
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM runs", &[]).await, 2);
}
