//! The read API and health endpoints.

use crate::both;
use crate::support::process::{Daemon, base_env};
use crate::support::{Backend, TestDb};
use serde_json::json;

both!(runs_events_functions_and_health, read_api_impl);
async fn read_api_impl(b: Backend) {
    let db = TestDb::new(b).await;
    db.insert_users(&[("u1".into(), "a@example.com".into())]).await;
    let d = Daemon::start(&base_env(&db.url));
    let ok = d
        .api
        .send(json!({"name": "user/created", "user": {"id": "u1", "email": "a@example.com"}}))
        .await;
    d.api
        .send(json!({"name": "user/created", "user": {"id": "nobody", "email": "n@example.com"}}))
        .await;
    d.api.drain().await;

    // Each user/created also starts user-signup-admin-email.
    let all = d.api.get_ok("/api/v1/runs").await;
    assert_eq!(all["runs"].as_array().unwrap().len(), 4);
    let mine = d.api.get_ok("/api/v1/runs?function=user-created").await;
    assert_eq!(mine["runs"].as_array().unwrap().len(), 2);
    let failed = d
        .api
        .get_ok("/api/v1/runs?status=failed&function=user-created&limit=10")
        .await;
    assert_eq!(failed["runs"].as_array().unwrap().len(), 1);
    assert_eq!(failed["runs"][0]["status"], "failed");
    let completed = d
        .api
        .get_ok("/api/v1/runs?status=completed&function=user-created")
        .await;
    assert_eq!(completed["runs"][0]["event_id"], ok[0].as_str());
    assert_eq!(d.api.get_ok("/api/v1/runs?function=nope").await["runs"], json!([]));

    for (path, status) in [
        ("/api/v1/runs?status=sleepy", 400),
        ("/api/v1/runs?limit=0", 400),
        ("/api/v1/runs?limit=abc", 400),
        ("/api/v1/runs?bogus=1", 400),
        ("/api/v1/runs/does-not-exist", 404),
        ("/api/v1/events/does-not-exist", 404),
        ("/no/such/route", 404),
    ] {
        let (got, body) = d.api.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: JSON error, got {body}");
    }

    let functions = d.api.get_ok("/api/v1/functions").await;
    let uc = functions["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "user-created")
        .expect("user-created is registered");
    assert_eq!(uc["id"], "user-created");
    assert_eq!(uc["triggers"], json!([{"event": "user/created", "if": null}]));
    assert_eq!(
        (uc["retries"].as_i64(), uc["idempotency"].as_str()),
        (Some(3), Some("event.user.email"))
    );

    let health = d.api.get_ok("/health").await;
    assert_eq!(health["status"], 200);
    assert_eq!(health["database"], "ok");
    assert_eq!(
        health["backend"],
        if b == Backend::Sqlite { "sqlite" } else { "postgres" }
    );
    let pool = health["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "user-created")
        .expect("a pool for user-created");
    assert_eq!(pool["id"], "user-created");
    assert_eq!((pool["queued"].as_i64(), pool["running"].as_i64()), (Some(0), Some(0)));
    assert_eq!(pool["slots"], 256);
    assert_eq!(pool["mailbox_capacity"], 1024);
    assert_eq!(pool["claimed_total"], 2);
    assert_eq!(d.api.get_ok("/health/ready").await["message"], "ready");
}

both!(credentials_never_leave_through_the_api, redaction_impl);
async fn redaction_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let d = Daemon::start(&base_env(&db.url));
    let account = json!({"provider": "discord", "userId": "u1", "access_token": "tok_SECRET_1",
        "refresh_token": "tok_SECRET_2"});
    let ids = d
        .api
        .send(json!({"name": "oauth/provider-account-linked", "data": {"account": account}}))
        .await;
    let (status, event) = d.api.get(&format!("/api/v1/events/{}", ids[0])).await;
    assert_eq!(status, 200);
    let text = event.to_string();
    assert!(!text.contains("tok_SECRET"), "{text}");
    assert_eq!(
        event["event"]["data"]["account"]["access_token"], "[redacted]",
        "{event}"
    );
    assert_eq!(event["event"]["data"]["account"]["provider"], "discord");
    // Stored as sent: the workflow still gets the user's token.
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM events WHERE data LIKE '%tok_SECRET_1%'", &[])
            .await,
        1
    );
}
