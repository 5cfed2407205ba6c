//! A database that hangs: with `events` locked by another connection (PostgreSQL `LOCK TABLE … ACCESS
//! EXCLUSIVE`, SQLite `BEGIN IMMEDIATE`), the intake answers 503 with Retry-After within the deadline,
//! `/health/ready` answers 503 promptly (its write probe cannot write), `/health` still answers, and once the lock
//! is released nothing of the refused request was stored.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use diesel::Connection;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use ingot_actors::{FunctionDef, Trigger};
use serde_json::json;
use std::time::{Duration, Instant};

enum Lock {
    Pg(Box<AsyncPgConnection>),
    Sqlite(diesel::SqliteConnection),
}

impl Lock {
    async fn take(db: &TestDb) -> Lock {
        match db.backend {
            Backend::Postgres => {
                let mut c = AsyncPgConnection::establish(&db.url).await.unwrap();
                c.batch_execute("BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
                    .await
                    .unwrap();
                Lock::Pg(Box::new(c))
            }
            Backend::Sqlite => {
                let path = db.url.trim_start_matches("sqlite://").to_string();
                let mut c = diesel::SqliteConnection::establish(&path).unwrap();
                // The daemon writes now and then (its heartbeat, the readiness probe): wait for such a write to
                // end instead of failing at once with "database is locked".
                diesel::connection::SimpleConnection::batch_execute(
                    &mut c,
                    "PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE",
                )
                .unwrap();
                Lock::Sqlite(c)
            }
        }
    }

    async fn release(self) {
        match self {
            Lock::Pg(mut c) => c.batch_execute("ROLLBACK").await.unwrap(),
            Lock::Sqlite(mut c) => diesel::connection::SimpleConnection::batch_execute(&mut c, "ROLLBACK").unwrap(),
        }
    }
}

fn noop() -> FunctionDef {
    FunctionDef::new("noop", "Noop", |_ctx| async move { Ok(json!({})) }).trigger(Trigger::event("test/noop"))
}

both!(a_locked_database_answers_503_in_time, locked_impl);
async fn locked_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let deadline = Duration::from_millis(500);
    let d = InProc::start(&db.url, vec![noop()], &[("db_timeout", "500ms")]).await;
    let (status, _) = d.api.get("/health/ready").await;
    assert_eq!(status, 200, "ready before the lock");
    let lock = Lock::take(&db).await;
    // Bound: the deadline plus a generous margin for a shared 2-core machine; without deadlines the request
    // waits as long as the lock is held (here: for ever).
    let bound = deadline + Duration::from_secs(3);
    let started = Instant::now();
    let resp = tokio::time::timeout(
        bound * 2,
        crate::support::http_client()
            .post(format!("{}/e/k", d.api.base))
            .header("content-type", "application/json")
            .body(json!({"name": "test/noop", "id": "p-1"}).to_string())
            .send(),
    )
    .await
    .expect("the intake answers while the table is locked")
    .unwrap();
    let took = started.elapsed();
    assert_eq!(resp.status().as_u16(), 503, "{:?}", resp.text().await);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(took < bound, "answered in {took:?}");
    let started = Instant::now();
    let (status, body) = tokio::time::timeout(bound * 2, d.api.get("/health/ready"))
        .await
        .expect("ready answers");
    assert_eq!(status, 503, "not ready while writes cannot happen: {body}");
    assert!(started.elapsed() < bound);
    let (status, _) = tokio::time::timeout(bound * 2, d.api.get("/health"))
        .await
        .expect("health answers");
    assert_eq!(status, 200, "liveness answers, the database shown as it is");
    lock.release().await;
    // Nothing of the refused request was stored, not even later; the same producer id is then accepted anew.
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM events", &[]).await, 0);
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM event_ids", &[]).await, 0);
    let ids = d.api.send(json!({"name": "test/noop", "id": "p-1"})).await;
    d.api.drain().await;
    assert_eq!(d.api.only_run(&ids[0]).await["status"], "completed");
    let (status, _) = d.api.get("/health/ready").await;
    assert_eq!(status, 200, "ready again");
    d.stop().await;
}

/// "Commits nothing after it answered" (issue 15), on PostgreSQL: the deadline passes while the `COMMIT` of an
/// intake transaction is in flight. Triggers created on the fresh database make the transaction's statements take
/// 0.7 × the deadline (a row trigger) and its `COMMIT` another 0.7 × (a deferred constraint trigger), so the
/// deadline passes during `COMMIT`, and the `COMMIT` (under its own `statement_timeout`) lands. The answer must be
/// the outcome: 200 with the event stored — for `POST /e/{key}`, a webhook stored by `store` (Postmark) and one
/// stored by `store_once` (Stripe, behind its delivery record). Before the fix each request was dropped at the
/// deadline and answered 503 for an event that was then stored. (SQLite does not apply: its calls are never
/// abandoned, so the answer is always the outcome.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_during_commit_answers_the_commits_outcome() {
    let db = TestDb::new(Backend::Postgres).await;
    let slow = "WHEN (NEW.name IN ('test/slow', 'postmark/webhook', 'stripe/checkout-session-completed'))";
    for sql in [
        "CREATE FUNCTION test_slow() RETURNS trigger LANGUAGE plpgsql AS \
         'BEGIN PERFORM pg_sleep(TG_ARGV[0]::float8); RETURN NEW; END'"
            .to_string(),
        format!(
            "CREATE TRIGGER test_slow_statements BEFORE INSERT ON events FOR EACH ROW {slow} EXECUTE FUNCTION test_slow('1.4')"
        ),
        format!(
            "CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON events DEFERRABLE INITIALLY DEFERRED \
             FOR EACH ROW {slow} EXECUTE FUNCTION test_slow('1.4')"
        ),
    ] {
        db.exec(&sql, &[]).await;
    }
    let function =
        FunctionDef::new("slow", "Slow", |_ctx| async move { Ok(json!({})) }).trigger(Trigger::event("test/slow"));
    let d = InProc::start(
        &db.url,
        vec![function],
        &[
            ("db_timeout", "2s"),
            ("postmark_webhook_secret", "pm_secret"),
            ("stripe_webhook_secret", "whsec_test"),
        ],
    )
    .await;
    let stripe =
        json!({"id": "evt_slow", "type": "checkout.session.completed", "data": {"object": {"id": "cs_1"}}}).to_string();
    let now = chrono::Utc::now().timestamp();
    let requests = [
        (
            "/e/k",
            "test/slow",
            vec![],
            json!({"name": "test/slow", "id": "p-slow"}).to_string(),
        ),
        (
            "/webhooks/postmark",
            "postmark/webhook",
            vec![("course-builder", "pm_secret".to_string())],
            json!({"RecordType": "Bounce", "Email": "a@example.com", "MessageID": "m1"}).to_string(),
        ),
        (
            "/webhooks/stripe",
            "stripe/checkout-session-completed",
            vec![(
                "stripe-signature",
                ingot::http::webhooks::sign("whsec_test", now, stripe.as_bytes()),
            )],
            stripe.clone(),
        ),
    ];
    let mut wrong = Vec::new();
    for (path, name, headers, body) in requests {
        let started = Instant::now();
        let mut request = d
            .api
            .client()
            .post(format!("{}{path}", d.api.base))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let resp = request.send().await.expect("daemon reachable");
        let status = resp.status().as_u16();
        let answer: serde_json::Value = resp.json().await.unwrap_or_default();
        let took = started.elapsed();
        // Wait for the transaction to end, whichever way (SHARE conflicts with its ROW EXCLUSIVE): what it left is
        // then final.
        let mut c = AsyncPgConnection::establish(&db.url).await.unwrap();
        c.batch_execute("BEGIN; LOCK TABLE events IN SHARE MODE; COMMIT")
            .await
            .unwrap();
        let stored = db
            .count("SELECT COUNT(*) AS n FROM events WHERE name = $1", &[name])
            .await;
        assert!(took < Duration::from_secs(8), "{path}: still bounded: {took:?}");
        if (status, stored) != (200, 1) {
            wrong.push(format!(
                "{path}: answered {status} in {took:?} ({answer}), {stored} stored"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "each answer is its COMMIT's outcome (200, stored): {wrong:#?}"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM runs WHERE function_id = 'slow'", &[])
            .await,
        1
    );
    d.api.drain().await;
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM runs WHERE function_id = 'slow' AND status = 'completed'",
            &[]
        )
        .await,
        1
    );
    d.stop().await;
}
