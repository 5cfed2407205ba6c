//! The `user-created` workflow end to end: steps, tables, return value, and its non-retriable failures.

use super::harness::step_names;
use crate::both;
use crate::support::process::{Daemon, base_env};
use crate::support::{Backend, TestDb};
use serde_json::json;

/// The `user-created` run an event started (`user/created` also starts `user-signup-admin-email`).
async fn user_created_run(d: &Daemon, event_id: &str) -> serde_json::Value {
    d.api
        .runs_of(event_id)
        .await
        .into_iter()
        .find(|r| r["function_id"] == "user-created")
        .expect("a user-created run")
}

both!(assigns_role_and_preference, assigns_role_and_preference_impl);
async fn assigns_role_and_preference_impl(b: Backend) {
    let db = TestDb::new(b).await;
    db.insert_users(&[("u1".into(), "ada@example.com".into())]).await;
    let mut env = base_env(&db.url);
    env.push(("NEXT_PUBLIC_SITE_TITLE".into(), "AI Hero".into()));
    let d = Daemon::start(&env);
    let user = json!({"id": "u1", "email": "ada@example.com"});
    let ids = d.api.send(json!({"name": "user/created", "user": user})).await;
    d.api.drain().await;
    let runs = d.api.runs_of(&ids[0]).await;
    assert_eq!(runs.len(), 2, "user-created and user-signup-admin-email");
    let run = &user_created_run(&d, &ids[0]).await;
    assert_eq!(run["function_id"], "user-created");
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["idempotency_key"], "ada@example.com");
    assert_eq!(
        run["output"],
        json!({
            "sendResponse": null,
            "email": {"body": "ada@example.com signed up.", "subject": "Signup from ada@example.com on AI Hero"},
            "user": user,
        })
    );
    assert_eq!(
        step_names(run),
        [
            "load the preference type and channel",
            "create user role",
            "create the user preference",
            "parse email body",
            "parse email subject"
        ]
    );
    for step in run["steps"].as_array().unwrap() {
        assert_eq!(step["status"], "completed", "{step}");
        assert_eq!(step["attempts"], 1);
        assert!(step["started_at"].is_string() && step["finished_at"].is_string());
    }
    assert_eq!(run["steps"][0]["output"]["preferenceType"]["name"], "Newsletter");
    assert_eq!(run["steps"][0]["output"]["channel"]["name"], "Email");
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM user_roles WHERE user_id = 'u1' AND role_id = 'role_user'",
            &[]
        )
        .await,
        1
    );
    let active_prefs = db
        .count(
            "SELECT COUNT(*) AS n FROM communication_preferences WHERE user_id = 'u1' AND active = TRUE \
             AND preference_type_id = 'preference_newsletter' AND channel_id = 'channel_email' AND opt_in_at IS NOT NULL",
            &[],
        )
        .await;
    assert_eq!(active_prefs, 1, "an active, opted-in Newsletter/Email preference");
}

both!(unknown_user_fails_without_retries, unknown_user_impl);
async fn unknown_user_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let d = Daemon::start(&base_env(&db.url));
    let ids = d
        .api
        .send(json!({"name": "user/created", "user": {"id": "ghost-42", "email": "ghost@example.com"}}))
        .await;
    d.api.drain().await;
    let run = &user_created_run(&d, &ids[0]).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"]["name"], "StepError");
    assert!(run["error"]["message"].as_str().unwrap().contains("ghost-42"), "{run}");
    let role_step = &run["steps"][1];
    assert_eq!(role_step["name"], "create user role");
    assert_eq!(role_step["status"], "failed");
    assert_eq!(role_step["attempts"], 1, "non-retriable: one attempt");
    assert_eq!(role_step["error"]["name"], "NonRetriableError");
    assert_eq!(step_names(run).len(), 2, "no step after the failure");
}

both!(missing_reference_rows_fail_non_retriably, missing_reference_rows_impl);
async fn missing_reference_rows_impl(b: Backend) {
    let db = TestDb::new(b).await;
    db.insert_users(&[("u1".into(), "a@example.com".into())]).await;
    db.exec(
        "DELETE FROM communication_preference_types WHERE name = 'Newsletter'",
        &[],
    )
    .await;
    let d = Daemon::start(&base_env(&db.url));
    let ids = d
        .api
        .send(json!({"name": "user/created", "user": {"id": "u1", "email": "a@example.com"}}))
        .await;
    d.api.drain().await;
    let run = &user_created_run(&d, &ids[0]).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["steps"][0]["attempts"], 1);
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Preference type or channel not found"),
        "{run}"
    );
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM user_roles", &[]).await, 0);
}

both!(missing_role_retries_then_fails, missing_role_impl);
async fn missing_role_impl(b: Backend) {
    let db = TestDb::new(b).await;
    db.insert_users(&[("u1".into(), "a@example.com".into())]).await;
    db.exec(
        "UPDATE roles SET deleted_at = CURRENT_TIMESTAMP WHERE name = 'user'",
        &[],
    )
    .await;
    let d = Daemon::start(&base_env(&db.url));
    let ids = d
        .api
        .send(json!({"name": "user/created", "user": {"id": "u1", "email": "a@example.com"}}))
        .await;
    d.api.drain().await;
    let run = &user_created_run(&d, &ids[0]).await;
    assert_eq!(run["status"], "failed", "{run}");
    let step = &run["steps"][1];
    // Retryable: 3 retries after the first attempt, each recorded, the last one final.
    assert_eq!(step["attempts"], 4, "{step}");
    let statuses: Vec<&str> = step["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["errored", "errored", "errored", "failed"]);
    assert!(step["history"][0]["retry_at"].is_string());
    assert_eq!(
        run["steps"][0]["attempts"], 1,
        "the completed first step never ran again"
    );
}

both!(restores_soft_deleted_rows_keeps_opt_outs, restores_impl);
async fn restores_impl(b: Backend) {
    let db = TestDb::new(b).await;
    db.insert_users(&[
        ("u1".into(), "a@example.com".into()),
        ("u2".into(), "b@example.com".into()),
    ])
    .await;
    // u1: a role link and a preference that were soft-deleted (gone); u2: a preference switched off (unsubscribed).
    db.exec(
        "INSERT INTO user_roles (user_id, role_id, active, deleted_at) VALUES ('u1', 'role_user', FALSE, CURRENT_TIMESTAMP)",
        &[],
    )
    .await;
    db.exec(
        "INSERT INTO communication_preferences (id, user_id, channel_id, preference_type_id, active, opt_out_at, deleted_at) \
         VALUES ('p1', 'u1', 'channel_email', 'preference_newsletter', FALSE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        &[],
    )
    .await;
    db.exec(
        "INSERT INTO communication_preferences (id, user_id, channel_id, preference_type_id, active, opt_out_at) \
         VALUES ('p2', 'u2', 'channel_email', 'preference_newsletter', FALSE, CURRENT_TIMESTAMP)",
        &[],
    )
    .await;
    let d = Daemon::start(&base_env(&db.url));
    let ids = d
        .api
        .send(json!([
            {"name": "user/created", "user": {"id": "u1", "email": "a@example.com"}},
            {"name": "user/created", "user": {"id": "u2", "email": "b@example.com"}},
        ]))
        .await;
    d.api.drain().await;
    for id in &ids {
        let run = &user_created_run(&d, id).await;
        assert_eq!(run["status"], "completed", "{run}");
    }
    let u1 = &user_created_run(&d, &ids[0]).await;
    assert_eq!(
        u1["steps"][1]["output"]["created"], true,
        "the soft-deleted role link is restored"
    );
    assert_eq!(u1["steps"][2]["output"]["created"], true);
    assert_eq!(
        ingot::platform::users::role_names(&db.db, "u1").await.unwrap(),
        ["user"]
    );
    let live = "SELECT COUNT(*) AS n FROM communication_preferences WHERE user_id = $1 AND active = TRUE \
                AND deleted_at IS NULL AND opt_out_at IS NULL AND opt_in_at IS NOT NULL";
    assert_eq!(
        db.count(live, &["u1"]).await,
        1,
        "the soft-deleted preference is restored, opted in"
    );
    assert_eq!(
        db.count(live, &["u2"]).await,
        0,
        "an unsubscribed user stays unsubscribed"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM communication_preferences", &[])
            .await,
        2,
        "no second row"
    );
}
