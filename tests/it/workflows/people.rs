//! People: `user-signup-admin-email` (the admin is told once per address; no address configured, no user email),
//! `create-user-organizations` (batches that re-emit themselves until one is short, each user handed out once) and
//! `ensure-personal-organization` (created with owner + learner, found again, checked without creating, missing
//! user); a kill -9 in the middle of a backfill, then a replayed event that changes nothing.

use super::harness::{emitted, env, step_ids, texts};
use crate::both;
use crate::support::process::Daemon;
use crate::support::smtp_sink::SmtpSink;
use crate::support::{Api, Backend, TestDb};
use serde_json::{Value, json};

const ADMIN: &str = "admin@aihero.test";

fn daemon_env(db: &TestDb, smtp: &str, admin: bool) -> Vec<(String, String)> {
    let mut e = env(&db.url, "http://127.0.0.1:9", smtp);
    if admin {
        e.push(("ADMIN_EMAIL".into(), ADMIN.into()));
    }
    e
}

/// The run of `function` the event `event_id` started.
async fn run_of(api: &Api, event_id: &str, function: &str) -> Value {
    let runs = api.runs_of(event_id).await;
    let mine: Vec<Value> = runs.into_iter().filter(|r| r["function_id"] == function).collect();
    assert_eq!(mine.len(), 1, "one {function} run: {mine:?}");
    mine.into_iter().next().unwrap()
}

both!(signup_tells_the_admin_once_per_address, signup_impl);
async fn signup_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let sink = SmtpSink::start(None, None).await;
    let d = Daemon::start(&daemon_env(&db, &sink.url(), true));
    let user = json!({"id": "u1", "email": "ada@example.com", "name": "Ada"});
    let ids = d.api.send(json!({"name": "user/created", "user": user})).await;
    d.api.drain().await;
    let run = run_of(&d.api, &ids[0], "user-signup-admin-email").await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["idempotency_key"], "ada@example.com");
    assert_eq!(
        step_ids(&run),
        ["parse email body", "parse email subject", "send the email"]
    );
    let email = json!({"body": "ada@example.com signed up.", "subject": "Signup from ada@example.com on AI Hero"});
    assert_eq!(run["output"]["email"], email);
    assert_eq!(run["output"]["to"], ADMIN);
    assert_eq!(run["output"]["user"], user);
    assert_eq!(run["output"]["sendResponse"]["dry_run"], false);
    let got = sink.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].to, [ADMIN]);
    assert_eq!(got[0].from, "team@aihero.test");
    let data = &got[0].data;
    assert!(
        data.contains("Subject: Signup from ada@example.com on AI Hero"),
        "{data}"
    );
    assert!(data.contains("ada@example.com signed up."), "{data}");
    assert!(data.contains("Reply-To: ada@example.com"), "{data}");

    // `user/signup` for the same address: the idempotency key holds, no second email.
    let again = d.api.send(json!({"name": "user/signup", "user": user})).await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(ev["run_ids"], json!([]), "{ev}");
    assert_eq!(ev["skipped"][0]["reason"], "idempotency_key", "{ev}");
    // Another address through `user/signup`: its own email.
    let other = d
        .api
        .send(json!({"name": "user/signup", "user": {"id": "u2", "email": "bob@example.com"}}))
        .await;
    d.api.drain().await;
    assert_eq!(
        run_of(&d.api, &other[0], "user-signup-admin-email").await["status"],
        "completed"
    );
    let got = sink.received();
    assert_eq!(got.len(), 2);
    assert!(
        got[1].data.contains("Subject: Signup from bob@example.com on AI Hero"),
        "{}",
        got[1].data
    );
    assert_eq!(got[1].to, [ADMIN]);
}

both!(signup_without_admin_address_or_user_email, signup_branches_impl);
async fn signup_branches_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let sink = SmtpSink::start(None, None).await;
    let d = Daemon::start(&daemon_env(&db, &sink.url(), false));
    let ids = d
        .api
        .send(json!({"name": "user/signup", "user": {"id": "u1", "email": "ada@example.com"}}))
        .await;
    d.api.drain().await;
    let run = run_of(&d.api, &ids[0], "user-signup-admin-email").await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(step_ids(&run), ["parse email body", "parse email subject"]);
    assert_eq!(run["output"]["skipped"], "ADMIN_EMAIL is not configured");
    assert_eq!(run["output"]["sendResponse"], Value::Null);

    let ids = d.api.send(json!({"name": "user/signup", "user": {"id": "u9"}})).await;
    d.api.drain().await;
    let run = run_of(&d.api, &ids[0], "user-signup-admin-email").await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["attempt"], 0, "non-retriable: {run}");
    assert!(
        run["error"]["message"].as_str().unwrap().contains("no user.email"),
        "{run}"
    );
    assert!(sink.received().is_empty());
}

/// Inserts org-less users `p1..pN` (same creation second: ordered by id).
async fn orgless(db: &TestDb, n: usize) -> Vec<String> {
    let users: Vec<(String, String)> = (1..=n)
        .map(|i| (format!("p{i}"), format!("p{i}@example.com")))
        .collect();
    db.insert_users(&users).await;
    users.into_iter().map(|(id, _)| id).collect()
}

/// Every user has exactly one membership, in `Personal (<email>)` = `org_personal_<id>`, as owner and learner.
async fn assert_personal(db: &TestDb, ids: &[String]) {
    for id in ids {
        let orgs = texts(
            db,
            "SELECT o.id || '|' || o.name AS t FROM organization_memberships m JOIN organizations o \
             ON o.id = m.organization_id WHERE m.user_id = $1",
            &[id],
        )
        .await;
        assert_eq!(orgs, [format!("org_personal_{id}|Personal ({id}@example.com)")]);
        let roles = texts(
            db,
            "SELECT r.name AS t FROM organization_membership_roles mr JOIN roles r ON r.id = mr.role_id \
             JOIN organization_memberships m ON m.id = mr.organization_membership_id WHERE m.user_id = $1 \
             AND mr.active = TRUE ORDER BY r.name",
            &[id],
        )
        .await;
        assert_eq!(roles, ["learner", "owner"], "{id}");
    }
}

both!(backfill_runs_in_batches_until_one_is_short, backfill_impl);
async fn backfill_impl(b: Backend) {
    let db = TestDb::new(b).await;
    ingot::seed::builders::user(&db.db, "has_org", "has@example.com", "Has Org")
        .await
        .unwrap();
    let ids = orgless(&db, 5).await;
    let sink = SmtpSink::start(None, None).await;
    let d = Daemon::start(&daemon_env(&db, &sink.url(), false));
    d.api
        .send(json!({"name": "user-organizations/create", "data": {"limit": 2}}))
        .await;
    d.api.drain().await;
    let mut runs = d.api.runs_of_function("create-user-organizations").await;
    runs.reverse(); // oldest first
    let outs: Vec<Value> = runs.iter().map(|r| r["output"].clone()).collect();
    assert_eq!(
        outs,
        [
            json!({"userIds": ["p1", "p2"], "more": true}),
            json!({"userIds": ["p3", "p4"], "more": true}),
            json!({"userIds": ["p5"], "more": false}),
        ]
    );
    assert_eq!(
        step_ids(&runs[0]),
        [
            "get users",
            "create organization for user p1",
            "create organization for user p2",
            "create next batch"
        ]
    );
    let next = emitted(&db, &d.api, &runs[0], "create next batch").await;
    assert_eq!(next[0]["event"]["name"], "user-organizations/create");
    assert_eq!(next[0]["event"]["data"], json!({"limit": 2, "after": "p2"}));
    let ensure = emitted(&db, &d.api, &runs[0], "create organization for user p1").await;
    assert_eq!(ensure[0]["event"]["name"], "personal-organization/ensure");
    assert_eq!(
        ensure[0]["event"]["data"],
        json!({"userId": "p1", "createIfMissing": true})
    );
    assert_eq!(ensure[0]["event"]["user"]["email"], "p1@example.com");
    assert_eq!(step_ids(&runs[2]), ["get users", "create organization for user p5"]);

    let ensured = d.api.runs_of_function("ensure-personal-organization").await;
    assert_eq!(ensured.len(), 5, "one per org-less user, none for has_org");
    for r in &ensured {
        assert_eq!(r["status"], "completed", "{r}");
        assert_eq!(r["output"]["wasCreated"], true, "{r}");
        assert_eq!(r["output"]["roles"], json!(["learner", "owner"]));
    }
    assert_personal(&db, &ids).await;

    // The original event name, with nothing left to do: one short batch. A bad limit is refused.
    let ids_ = d
        .api
        .send(json!({"name": "create-user-organizations", "data": {}}))
        .await;
    d.api.drain().await;
    let run = run_of(&d.api, &ids_[0], "create-user-organizations").await;
    assert_eq!(run["output"], json!({"userIds": [], "more": false}));
    let bad = d
        .api
        .send(json!({"name": "user-organizations/create", "data": {"limit": 0}}))
        .await;
    d.api.drain().await;
    let run = run_of(&d.api, &bad[0], "create-user-organizations").await;
    assert_eq!(
        (run["status"].as_str(), run["attempt"].as_i64()),
        (Some("failed"), Some(0)),
        "{run}"
    );
    assert!(run["error"]["message"].as_str().unwrap().contains("limit"), "{run}");
}

both!(ensure_creates_finds_checks_and_refuses, ensure_impl);
async fn ensure_impl(b: Backend) {
    let db = TestDb::new(b).await;
    orgless(&db, 2).await;
    let sink = SmtpSink::start(None, None).await;
    let d = Daemon::start(&daemon_env(&db, &sink.url(), false));
    let ensure = async |name: &str, data: Value| -> Value {
        let ids = d.api.send(json!({"name": name, "data": data})).await;
        d.api.drain().await;
        run_of(&d.api, &ids[0], "ensure-personal-organization").await
    };
    let run = ensure("personal-organization/ensure", json!({"userId": "p1"})).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(step_ids(&run), ["get user", "ensure personal organization"]);
    assert_eq!(run["output"]["wasCreated"], true);
    assert_eq!(run["output"]["organization"]["name"], "Personal (p1@example.com)");
    assert_eq!(run["output"]["user"]["email"], "p1@example.com");
    // Again, through the original name: found, nothing new.
    let again = ensure("organization/ensure-personal", json!({"userId": "p1"})).await;
    assert_eq!(again["output"]["wasCreated"], false);
    assert_eq!(
        again["output"]["organization"]["id"],
        run["output"]["organization"]["id"]
    );
    assert_eq!(again["output"]["roles"], json!(["learner", "owner"]));
    assert_personal(&db, &["p1".to_string()]).await;
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM organizations", &[]).await, 1);

    // createIfMissing false: reports without writing.
    let check = ensure(
        "personal-organization/ensure",
        json!({"userId": "p2", "createIfMissing": false}),
    )
    .await;
    assert_eq!(step_ids(&check), ["get user", "check personal organization"]);
    assert_eq!(
        (&check["output"]["organization"], &check["output"]["wasCreated"]),
        (&Value::Null, &json!(false))
    );
    let found = ensure(
        "personal-organization/ensure",
        json!({"userId": "p1", "createIfMissing": false}),
    )
    .await;
    assert_eq!(found["output"]["organization"]["id"], "org_personal_p1");
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM organization_memberships WHERE user_id = 'p2'",
            &[]
        )
        .await,
        0
    );

    for data in [json!({"userId": "ghost"}), json!({})] {
        let run = ensure("personal-organization/ensure", data).await;
        assert_eq!(
            (run["status"].as_str(), run["attempt"].as_i64()),
            (Some("failed"), Some(0)),
            "{run}"
        );
        assert_eq!(run["steps"][0]["attempts"], 1);
        assert!(
            run["error"]["message"].as_str().unwrap().contains("User not found"),
            "{run}"
        );
    }
}

both!(kill9_mid_backfill_then_replay_changes_nothing, kill9_impl);
async fn kill9_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let ids = orgless(&db, 6).await;
    let sink = SmtpSink::start(None, None).await;
    let env = daemon_env(&db, &sink.url(), false);
    let d = Daemon::start(&env);
    let event = json!({"name": "user-organizations/create", "id": "backfill-1", "data": {"limit": 2}});
    d.api.send(event.clone()).await;
    // Killed while the backfill is under way (acknowledged, its chain of runs not finished).
    d.kill9();
    let d = Daemon::start(&env);
    d.api.drain().await;
    let backfill = d.api.runs_of_function("create-user-organizations").await;
    let ensured = d.api.runs_of_function("ensure-personal-organization").await;
    assert_eq!(
        (backfill.len(), ensured.len()),
        (4, 6),
        "batches 2+2+2+0, one ensure per user"
    );
    for r in backfill.iter().chain(&ensured) {
        assert_eq!(r["status"], "completed", "{r}");
    }
    assert_personal(&db, &ids).await;
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM organizations", &[]).await, 6);
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM organization_memberships", &[])
            .await,
        6
    );

    // The same event again: a duplicate, no run, nothing written.
    let again = d.api.send(event).await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(
        (ev["duplicate"].as_bool(), ev["run_ids"].clone()),
        (Some(true), json!([])),
        "{ev}"
    );
    assert_eq!(d.api.runs_of_function("create-user-organizations").await.len(), 4);
    assert_eq!(d.api.runs_of_function("ensure-personal-organization").await.len(), 6);
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM organizations", &[]).await, 6);
}
