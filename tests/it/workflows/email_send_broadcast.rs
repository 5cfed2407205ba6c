//! `email-send-broadcast`: every branch of the design document's diagram (missing preference type or channel,
//! missing user, preference created when missing, unsubscribed, sent with List-Unsubscribe), kill -9 while the
//! SMTP server hangs then restart (one email), and a replayed event (nothing).

use super::harness::{Hang, PUBLIC_URL, env, step, step_ids};
use crate::both;
use crate::support::process::Daemon;
use crate::support::smtp_sink::{Received, SmtpSink};
use crate::support::{Backend, TestDb};
use serde_json::{Value, json};

const ID: &str = "email-send-broadcast";

async fn setup(b: Backend) -> (TestDb, SmtpSink) {
    let db = TestDb::new(b).await;
    db.insert_users(&[("u1".into(), "ada@example.com".into())]).await;
    (db, SmtpSink::start(None, None).await)
}

fn start(db: &TestDb, smtp: &str) -> Daemon {
    Daemon::start(&env(&db.url, "http://127.0.0.1:9", smtp))
}

async fn broadcast(d: &Daemon, data: Value) -> Value {
    let ids = d.api.send(json!({"name": "email/send-broadcast", "data": data})).await;
    d.api.drain().await;
    d.api.only_run(&ids[0]).await
}

async fn set_preference(db: &TestDb, active: bool) {
    db.exec(
        &format!(
            "INSERT INTO communication_preferences (id, user_id, preference_type_id, channel_id, active, created_at, \
             updated_at) VALUES ('pref_u1', 'u1', 'preference_newsletter', 'channel_email', {active}, \
             CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ),
        &[],
    )
    .await;
}

/// The one broadcast in the sink, checked: recipient, sender, subject, body, List-Unsubscribe.
fn assert_broadcast(received: &[Received]) {
    assert_eq!(received.len(), 1, "{received:?}");
    let m = &received[0];
    assert_eq!(m.to, ["ada@example.com"]);
    assert_eq!(m.from, "team@aihero.test");
    let unsubscribe = format!("List-Unsubscribe: <{PUBLIC_URL}/unsubscribed?userId=u1>");
    assert!(m.data.contains(&unsubscribe), "{}", m.data);
    assert!(
        m.data.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{}",
        m.data
    );
    assert!(m.data.contains("Subject: AI Hero Test"), "{}", m.data);
    assert!(
        m.data.contains("hi from AI Hero") && m.data.contains("Hi Test,"),
        "{}",
        m.data
    );
    assert!(
        m.data.contains("Message-ID: <") && m.data.contains("@ingot>"),
        "{}",
        m.data
    );
}

const LOADS: [&str; 3] = [
    "load the preference type and channel",
    "load the user",
    "load the user preference",
];

both!(creates_the_missing_preference_and_sends, sends_impl);
async fn sends_impl(b: Backend) {
    let (db, sink) = setup(b).await;
    let d = start(&db, &sink.url());
    let run = broadcast(&d, json!({"toUserId": "u1"})).await;
    assert_eq!(run["function_id"], ID);
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        step_ids(&run),
        [
            LOADS.as_slice(),
            &[
                "create the user preference",
                "load the user preference:1",
                "send the email"
            ]
        ]
        .concat()
    );
    assert_eq!(step(&run, "load the user preference")["output"], Value::Null);
    assert_eq!(step(&run, "load the user preference:1")["output"]["active"], true);
    assert_eq!(step(&run, "load the user")["output"]["email"], "ada@example.com");
    assert_eq!(run["output"]["dry_run"], false);
    assert!(run["output"]["response"].as_str().unwrap().contains("queued"), "{run}");
    assert_broadcast(&sink.received());
    let prefs = "SELECT COUNT(*) AS n FROM communication_preferences WHERE user_id = 'u1' AND active = TRUE \
                 AND preference_type_id = 'preference_newsletter' AND channel_id = 'channel_email' AND opt_in_at IS NOT NULL";
    assert_eq!(db.count(prefs, &[]).await, 1);
}

both!(existing_preference_sends_without_creating, existing_impl);
async fn existing_impl(b: Backend) {
    let (db, sink) = setup(b).await;
    set_preference(&db, true).await;
    let d = start(&db, &sink.url());
    let run = broadcast(&d, json!({"toUserId": "u1"})).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(step_ids(&run), [LOADS.as_slice(), &["send the email"]].concat());
    assert_eq!(step(&run, "load the user preference")["output"]["id"], "pref_u1");
    assert_broadcast(&sink.received());
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM communication_preferences", &[])
            .await,
        1
    );
}

both!(unsubscribed_user_gets_nothing, unsubscribed_impl);
async fn unsubscribed_impl(b: Backend) {
    let (db, sink) = setup(b).await;
    set_preference(&db, false).await;
    let d = start(&db, &sink.url());
    let run = broadcast(&d, json!({"toUserId": "u1"})).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], "User has unsubscribed");
    assert_eq!(step_ids(&run), LOADS);
    assert!(sink.received().is_empty());
}

both!(missing_user_fails_non_retriably, missing_user_impl);
async fn missing_user_impl(b: Backend) {
    let (db, sink) = setup(b).await;
    let d = start(&db, &sink.url());
    for data in [json!({"toUserId": "ghost"}), json!({})] {
        let run = broadcast(&d, data.clone()).await;
        assert_eq!(run["status"], "failed", "{run}");
        let s = step(&run, "load the user");
        assert_eq!(
            (s["attempts"].as_u64(), s["error"]["name"].as_str()),
            (Some(1), Some("NonRetriableError"))
        );
        assert!(
            s["error"]["message"]
                .as_str()
                .unwrap()
                .contains("User not found with id"),
            "{s}"
        );
        assert_eq!(step_ids(&run), LOADS[..2], "{data}");
    }
    assert!(sink.received().is_empty());
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM communication_preferences", &[])
            .await,
        0
    );
}

both!(
    missing_preference_type_or_channel_fails_non_retriably,
    missing_type_impl
);
async fn missing_type_impl(b: Backend) {
    for table in ["communication_preference_types", "communication_channels"] {
        let (db, sink) = setup(b).await;
        db.exec(&format!("DELETE FROM {table}"), &[]).await;
        let d = start(&db, &sink.url());
        let run = broadcast(&d, json!({"toUserId": "u1"})).await;
        assert_eq!(run["status"], "failed", "{run}");
        let s = step(&run, LOADS[0]);
        assert_eq!(
            (s["attempts"].as_u64(), s["error"]["name"].as_str()),
            (Some(1), Some("NonRetriableError"))
        );
        assert_eq!(s["error"]["message"], "Preference type or channel not found");
        assert_eq!(step_ids(&run), LOADS[..1]);
        assert!(sink.received().is_empty(), "{table}");
    }
}

both!(kill9_while_sending_then_restart_sends_once, kill9_impl);
async fn kill9_impl(b: Backend) {
    let (db, sink) = setup(b).await;
    // The first daemon's SMTP server accepts and never answers: it dies in the middle of "send the email".
    let hang = Hang::start().await;
    let d = start(&db, &format!("smtp://127.0.0.1:{}", hang.port));
    let ids = d
        .api
        .send(json!({"name": "email/send-broadcast", "data": {"toUserId": "u1"}}))
        .await;
    hang.until_connected().await;
    d.kill9();
    let done = "SELECT COUNT(*) AS n FROM steps WHERE status = 'completed'";
    assert_eq!(db.count(done, &[]).await, 5, "every step before the send had completed");

    let d = start(&db, &sink.url());
    d.api.drain().await;
    let runs = d.api.runs_of(&ids[0]).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "completed", "{}", runs[0]);
    assert_eq!(
        step(&runs[0], "create the user preference")["attempts"],
        1,
        "completed steps never ran again"
    );
    assert_broadcast(&sink.received());
    // Any attempt of this step sends the same Message-ID, so even a resend from the SMTP window is one message.
    let id = ingot::email::message_id_for(&format!("{}/send the email", runs[0]["id"].as_str().unwrap()));
    assert!(sink.received()[0].data.contains(&format!("Message-ID: {id}")), "{id}");
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM communication_preferences", &[])
            .await,
        1
    );
}

both!(replayed_event_does_nothing, replay_impl);
async fn replay_impl(b: Backend) {
    let (db, sink) = setup(b).await;
    let d = start(&db, &sink.url());
    let event = json!({"name": "email/send-broadcast", "id": "broadcast-2026-12-u1", "data": {"toUserId": "u1"}});
    let first = d.api.send(event.clone()).await;
    d.api.drain().await;
    let again = d.api.send(event).await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(
        (ev["duplicate"].as_bool(), ev["run_ids"].clone()),
        (Some(true), json!([])),
        "{ev}"
    );
    assert_eq!(d.api.runs_of(&first[0]).await[0]["status"], "completed");
    assert_eq!(d.api.runs_of_function(ID).await.len(), 1);
    assert_broadcast(&sink.received());
}
