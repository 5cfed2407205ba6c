//! Input PostgreSQL cannot store (NUL in text, keys over the btree row limit) is refused with a 400 naming the
//! field, or stored safely (long and NUL keys as their hash), the same on both backends; a data error in a step
//! fails it for good instead of a retry loop.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot::http::webhooks::sign;
use ingot_actors::{FnError, FunctionDef, StepError, Trigger};
use serde_json::{Value, json};

fn keyed() -> FunctionDef {
    FunctionDef::new("keyed", "Keyed", |_ctx| async move { Ok(json!({"ok": true})) })
        .trigger(Trigger::event("test/keyed"))
        .idempotency("event.data.key")
}

/// A step whose query carries the event's email: on PostgreSQL a NUL in it is a data error (SQLSTATE 22021).
fn lookup(url: String) -> FunctionDef {
    FunctionDef::new("lookup", "Lookup", move |ctx| {
        let url = url.clone();
        async move {
            let email = ctx.event["data"]["email"].as_str().unwrap_or_default().to_string();
            let found: bool = ctx
                .step
                .run("look up", || async move {
                    let parsed = ingot::store::DatabaseUrl::parse(&url).map_err(StepError::fatal)?;
                    let db = ingot::store::Db::open(&parsed, &Default::default())
                        .map_err(|e| StepError::fatal(e.to_string()))?;
                    match ingot::platform::users::get_user_by_email(&db, &email).await {
                        Ok(u) => Ok(u.is_some()),
                        Err(e) if e.is_retryable() => Err(StepError::retryable(e.to_string())),
                        Err(e) => Err(StepError::fatal(e.to_string())),
                    }
                })
                .await?;
            Ok::<_, FnError>(json!({"found": found}))
        }
    })
    .trigger(Trigger::event("test/lookup"))
    .retries(3)
}

async fn counts(db: &TestDb) -> (i64, i64) {
    (
        db.count("SELECT COUNT(*) AS n FROM events", &[]).await,
        db.count("SELECT COUNT(*) AS n FROM runs", &[]).await,
    )
}

both!(nul_in_event_fields_is_refused_alike, nul_fields_impl);
async fn nul_fields_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let d = InProc::start(&db.url, vec![keyed()], &[("stripe_webhook_secret", "whsec_a")]).await;
    for (event, field) in [
        (json!({"name": "test/keyed\u{0}"}), "\"name\""),
        (json!({"name": "test/keyed", "id": "p\u{0}1"}), "\"id\""),
        (json!({"name": "test/keyed", "v": "1\u{0}"}), "\"v\""),
    ] {
        let (status, answer) = d.api.send_raw("k", event.to_string()).await;
        assert_eq!(status, 400, "{event}: {answer}");
        let msg = answer["error"].as_str().unwrap();
        assert!(msg.contains(field) && msg.contains("NUL"), "{msg}");
    }
    // One bad event in a batch of 101 refuses the whole batch, with a 400 that names it, not a 503.
    let mut batch: Vec<Value> = (0..100)
        .map(|i| json!({"name": "test/keyed", "data": {"key": i}}))
        .collect();
    batch.push(json!({"name": "test/keyed", "id": "x\u{0}"}));
    let (status, answer) = d.api.send_raw("k", Value::Array(batch).to_string()).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("event 100"), "{answer}");
    // A Stripe event id with NUL: refused the same way, nothing recorded.
    let body =
        json!({"id": "evt_\u{0}", "type": "checkout.session.completed", "data": {"object": {"id": "cs"}}}).to_string();
    let now = chrono::Utc::now().timestamp();
    let resp = crate::support::http_client()
        .post(format!("{}/webhooks/stripe", d.api.base))
        .header("stripe-signature", sign("whsec_a", now, body.as_bytes()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(counts(&db).await, (0, 0), "nothing refused was stored");
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM merchant_events", &[]).await, 0);
    // NUL in data is JSON-escaped text: stored on both backends.
    d.api.send(json!({"name": "misc/nul", "data": {"s": "a\u{0}b"}})).await;
    assert_eq!(counts(&db).await, (1, 0));
    d.stop().await;
}

both!(long_and_nul_keys_are_stored_as_hashes, keys_impl);
async fn keys_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let d = InProc::start(&db.url, vec![keyed()], &[]).await;
    let long = "k".repeat(3000);
    for key in [long.as_str(), "a\u{0}b"] {
        let first = d.api.send(json!({"name": "test/keyed", "data": {"key": key}})).await;
        assert_eq!(
            d.api.runs_of(&first[0]).await.len(),
            1,
            "the first event with the key starts a run"
        );
        let again = d.api.send(json!({"name": "test/keyed", "data": {"key": key}})).await;
        assert!(
            d.api.runs_of(&again[0]).await.is_empty(),
            "the same key within 24 h starts none"
        );
    }
    d.api.drain().await;
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM runs", &[]).await, 2);
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM runs WHERE idempotency_key LIKE 'sha256:%'",
            &[]
        )
        .await,
        2,
        "both keys stored as their hash"
    );
    d.stop().await;
}

both!(a_data_error_in_a_step_is_not_retried, step_data_error_impl);
async fn step_data_error_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let d = InProc::start(&db.url, vec![lookup(db.url.clone())], &[]).await;
    let ids = d
        .api
        .send(json!({"name": "test/lookup", "data": {"email": "a\u{0}b@example.com"}}))
        .await;
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    let attempts = run["steps"].as_array().unwrap().len();
    match b {
        // PostgreSQL refuses NUL in a text parameter (22021): the step fails for good on its first attempt.
        Backend::Postgres => {
            assert_eq!(run["status"], "failed", "{run}");
            assert_eq!(attempts, 1, "no retry of a data error: {run}");
            assert!(
                run["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("invalid byte sequence"),
                "{run}"
            );
        }
        // SQLite stores and compares NUL: the lookup simply finds nobody.
        Backend::Sqlite => {
            assert_eq!(run["status"], "completed", "{run}");
            assert_eq!(run["output"], json!({"found": false}));
        }
    }
    d.stop().await;
}
