//! `postmark-webhook` through `POST /webhooks/postmark`: every record type is stored in `postmark_events`; a hard
//! bounce, a spam complaint and an unsubscribe turn the recipient's Newsletter/Email preference off (creating it
//! off when missing), a resubscribe turns it back on; soft bounces, deliveries, opens and unknown recipients are
//! recorded only; the original event name with Postmark's raw body; a kill -9 right after the webhook was
//! acknowledged, and Postmark's retry of the same body (a duplicate that changes nothing).

use super::harness::{step_ids, texts};
use crate::both;
use crate::support::process::{Daemon, base_env};
use crate::support::{Backend, TestDb};
use serde_json::{Value, json};

const SECRET: &str = "pm_secret";
const ID: &str = "postmark-webhook";

async fn setup(b: Backend) -> (TestDb, Vec<(String, String)>) {
    let db = TestDb::new(b).await;
    db.insert_users(&[
        ("u1".into(), "one@example.com".into()),
        ("u2".into(), "two@example.com".into()),
        ("u3".into(), "three@example.com".into()),
    ])
    .await;
    for u in ["u1", "u3"] {
        db.exec(
            "INSERT INTO communication_preferences (id, user_id, preference_type_id, channel_id, active, created_at, \
             updated_at) VALUES ($1, $2, 'preference_newsletter', 'channel_email', TRUE, CURRENT_TIMESTAMP, \
             CURRENT_TIMESTAMP)",
            &[&format!("pref_{u}"), u],
        )
        .await;
    }
    let mut env = base_env(&db.url);
    env.push(("POSTMARK_WEBHOOK_SECRET".into(), SECRET.into()));
    (db, env)
}

/// Posts a Postmark webhook (authenticated with the `course-builder` header); returns our event id.
async fn post(d: &Daemon, body: &Value) -> String {
    let resp = crate::support::http_client()
        .post(format!("{}/webhooks/postmark", d.api.base))
        .header("course-builder", SECRET)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("daemon reachable");
    assert_eq!(resp.status().as_u16(), 200);
    let answer: Value = resp.json().await.unwrap();
    answer["ids"][0].as_str().unwrap().to_string()
}

async fn handled(d: &Daemon, body: &Value) -> Value {
    let id = post(d, body).await;
    d.api.drain().await;
    let run = d.api.only_run(&id).await;
    assert_eq!(run["function_id"], ID);
    run
}

/// (active, opted out) of a user's Newsletter/Email preference; None if they have none.
async fn preference(db: &TestDb, user: &str) -> Option<(bool, bool)> {
    let rows = texts(
        db,
        "SELECT CASE WHEN active THEN 'on' ELSE 'off' END || '|' || CASE WHEN opt_out_at IS NULL THEN 'in' \
         ELSE 'out' END AS t FROM communication_preferences WHERE user_id = $1 \
         AND preference_type_id = 'preference_newsletter' AND channel_id = 'channel_email'",
        &[user],
    )
    .await;
    assert!(rows.len() <= 1, "{rows:?}");
    rows.first().map(|r| (r.starts_with("on"), r.ends_with("out")))
}

/// The recorded events: "type|message id|recipient".
async fn recorded(db: &TestDb) -> Vec<String> {
    texts(
        db,
        "SELECT record_type || '|' || COALESCE(message_id, '-') || '|' || COALESCE(recipient, '-') AS t \
         FROM postmark_events ORDER BY received_at, id",
        &[],
    )
    .await
}

const PREFERENCE_STEPS: [&str; 3] = [
    "record delivery event",
    "load the preference type and channel",
    "find the recipient",
];

both!(bounces_complaints_and_unsubscribes_turn_the_newsletter_off, off_impl);
async fn off_impl(b: Backend) {
    let (db, env) = setup(b).await;
    let d = Daemon::start(&env);
    let bounce = json!({"RecordType": "Bounce", "Type": "HardBounce", "MessageID": "m1", "Email": "one@example.com",
        "BouncedAt": "2026-12-02T10:00:00Z"});
    let run = handled(&d, &bounce).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        step_ids(&run),
        [PREFERENCE_STEPS.as_slice(), &["deactivate the preference"]].concat()
    );
    assert_eq!(
        (
            run["output"]["action"].as_str(),
            run["output"]["userId"].as_str(),
            run["output"]["recordType"].as_str()
        ),
        (Some("deactivated"), Some("u1"), Some("Bounce"))
    );
    assert_eq!(run["output"]["preference"]["active"], false);
    assert_eq!(preference(&db, "u1").await, Some((false, true)));
    let payload = texts(
        &db,
        "SELECT payload AS t FROM postmark_events WHERE message_id = 'm1'",
        &[],
    )
    .await;
    assert_eq!(serde_json::from_str::<Value>(&payload[0]).unwrap(), bounce);
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM postmark_events WHERE received_at IS NOT NULL AND run_id = $1",
            &[run["id"].as_str().unwrap()]
        )
        .await,
        1
    );

    // A spam complaint from a user without a preference: created, off.
    let spam = json!({"RecordType": "SpamComplaint", "MessageID": "m2", "Email": "two@example.com"});
    let run = handled(&d, &spam).await;
    assert_eq!(run["output"]["action"], "deactivated", "{run}");
    assert_eq!(preference(&db, "u2").await, Some((false, true)));

    // Unsubscribe, then resubscribe.
    let change = |suppress: bool| {
        json!({"RecordType": "SubscriptionChange", "MessageID": format!("m3-{suppress}"),
            "Recipient": "three@example.com", "SuppressSending": suppress, "SuppressionReason": "ManualSuppression"})
    };
    let run = handled(&d, &change(true)).await;
    assert_eq!(run["output"]["action"], "deactivated", "{run}");
    assert_eq!(preference(&db, "u3").await, Some((false, true)));
    let run = handled(&d, &change(false)).await;
    assert_eq!(
        step_ids(&run),
        [PREFERENCE_STEPS.as_slice(), &["reactivate the preference"]].concat()
    );
    assert_eq!(run["output"]["action"], "reactivated", "{run}");
    assert_eq!(preference(&db, "u3").await.map(|p| p.0), Some(true));
    assert_eq!(
        recorded(&db).await,
        [
            "Bounce|m1|one@example.com",
            "SpamComplaint|m2|two@example.com",
            "SubscriptionChange|m3-true|three@example.com",
            "SubscriptionChange|m3-false|three@example.com",
        ]
    );
}

both!(other_records_are_only_recorded, recorded_impl);
async fn recorded_impl(b: Backend) {
    let (db, env) = setup(b).await;
    let d = Daemon::start(&env);
    for (body, action) in [
        (
            json!({"RecordType": "Delivery", "MessageID": "d1", "Recipient": "one@example.com"}),
            "recorded",
        ),
        (
            json!({"RecordType": "Open", "MessageID": "o1", "Recipient": "one@example.com"}),
            "recorded",
        ),
        (
            json!({"RecordType": "Bounce", "Type": "SoftBounce", "MessageID": "s1", "Email": "one@example.com"}),
            "recorded",
        ),
        (
            json!({"RecordType": "Bounce", "Type": "HardBounce", "MessageID": "h1", "Email": "nobody@example.com"}),
            "no-user",
        ),
    ] {
        let run = handled(&d, &body).await;
        assert_eq!(
            (run["status"].as_str(), run["output"]["action"].as_str()),
            (Some("completed"), Some(action)),
            "{run}"
        );
        if action == "recorded" {
            assert_eq!(step_ids(&run), ["record delivery event"]);
        } else {
            assert_eq!(step_ids(&run), PREFERENCE_STEPS);
        }
    }
    // The original platform's event: Postmark's body itself as data.
    let ids = d
        .api
        .send(
            json!({"name": "postmark/web-hook-event", "data": {"RecordType": "Click", "MessageID": "c1",
            "Recipient": "three@example.com"}}),
        )
        .await;
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(
        (run["function_id"].as_str(), run["output"]["action"].as_str()),
        (Some(ID), Some("recorded")),
        "{run}"
    );
    // No RecordType: non-retriable, nothing recorded.
    let ids = d
        .api
        .send(json!({"name": "postmark/webhook", "data": {"event": "?", "data": {"x": 1}}}))
        .await;
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(
        (run["status"].as_str(), run["attempt"].as_i64()),
        (Some("failed"), Some(0)),
        "{run}"
    );
    assert!(
        run["error"]["message"].as_str().unwrap().contains("RecordType"),
        "{run}"
    );

    assert_eq!(
        recorded(&db).await,
        [
            "Delivery|d1|one@example.com",
            "Open|o1|one@example.com",
            "Bounce|s1|one@example.com",
            "Bounce|h1|nobody@example.com",
            "Click|c1|three@example.com",
        ]
    );
    assert_eq!(preference(&db, "u1").await, Some((true, false)), "untouched");
    assert_eq!(preference(&db, "u2").await, None);
}

both!(kill9_after_the_webhook_then_postmarks_retry_changes_nothing, kill9_impl);
async fn kill9_impl(b: Backend) {
    let (db, env) = setup(b).await;
    let d = Daemon::start(&env);
    let bounce = json!({"RecordType": "Bounce", "Type": "HardBounce", "MessageID": "k1", "Email": "one@example.com"});
    let id = post(&d, &bounce).await;
    // Acknowledged to Postmark: the run survives the kill wherever it was.
    d.kill9();
    let d = Daemon::start(&env);
    d.api.drain().await;
    let run = d.api.only_run(&id).await;
    assert_eq!(
        (run["status"].as_str(), run["output"]["action"].as_str()),
        (Some("completed"), Some("deactivated")),
        "{run}"
    );
    for step in run["steps"].as_array().unwrap() {
        assert_eq!(step["attempts"], 1, "{step}");
    }
    assert_eq!(recorded(&db).await, ["Bounce|k1|one@example.com"]);
    assert_eq!(preference(&db, "u1").await, Some((false, true)));

    // The user opts back in on the site; then Postmark retries the same bounce: a duplicate, no run, no change.
    db.exec(
        "UPDATE communication_preferences SET active = TRUE, opt_out_at = NULL WHERE user_id = 'u1'",
        &[],
    )
    .await;
    let again = post(&d, &bounce).await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{again}")).await;
    assert_eq!(
        (ev["duplicate"].as_bool(), ev["run_ids"].clone()),
        (Some(true), json!([])),
        "{ev}"
    );
    assert_eq!(d.api.runs_of_function(ID).await.len(), 1);
    assert_eq!(recorded(&db).await, ["Bounce|k1|one@example.com"]);
    assert_eq!(preference(&db, "u1").await, Some((true, false)));
}
