//! Scheduled email: `send-workshop-access-emails` and `event-reminder-broadcast`, driven by a chosen tick fired
//! through the store exactly as the scheduler fires one (`fire_cron` with `tick_event`), on a day in the future so
//! nothing depends on today's date; their `sleep_until`s are made due by moving the stored deadline. Every branch:
//! attached and default emails, earliest start first, a refused recipient counted, no entitled user, reminders in
//! and out of the window, series buyers, the support address. A kill -9 while a run waits for a workshop's start,
//! the same tick fired again (nothing), and the decision on missed ticks: the latest tick missed while no daemon
//! ran fires once at start-up, and only for a schedule that fired before.

use super::harness::{env, step_ids};
use crate::both;
use crate::support::process::Daemon;
use crate::support::smtp_sink::{Received, SmtpSink};
use crate::support::{Backend, TestDb};
use chrono::DateTime;
use ingot::functions::cohorts::send_workshop_access_emails as access;
use ingot::functions::live_events::event_reminder_broadcast as reminders;
use ingot::platform::commerce::PurchaseStatus;
use ingot::platform::content;
use ingot::seed::builders;
use ingot::seed::demo::{self, ids};
use ingot::store::runs::DbRunStore;
use ingot_actors::cron::CronSchedule;
use ingot_actors::scheduler::tick_event;
use ingot_actors::store::RunStore;
use ingot_actors::time::now_ms;
use serde_json::{Value, json};

const SUPPORT: &str = "support@aihero.test";

fn ms(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis()
}

/// Fires `function`'s tick at `tick_ms` as the scheduler does; false if that tick was fired already.
async fn fire(db: &TestDb, function: &str, schedule: &str, tick_ms: i64) -> bool {
    let store = DbRunStore::new(db.db.clone());
    let event = tick_event(function, schedule, tick_ms, None).expect("a valid tick");
    store
        .fire_cron(function, schedule, tick_ms, &event)
        .await
        .expect("fire")
}

/// The function's one run id; its (future) tick is made due now.
async fn due_now(db: &TestDb, function: &str) -> String {
    let ids = super::harness::texts(db, "SELECT id AS t FROM runs WHERE function_id = $1", &[function]).await;
    assert_eq!(ids.len(), 1, "{ids:?}");
    db.exec(
        &format!(
            "UPDATE runs SET run_at = {} WHERE id = $1 AND status = 'queued'",
            now_ms()
        ),
        &[&ids[0]],
    )
    .await;
    ids[0].clone()
}

/// Ends the run's current sleep now (the stored deadline moves; the daemon resumes it as at the real time).
async fn make_sleep_due(db: &TestDb, run_id: &str, step: &str) {
    let now = now_ms();
    let steps = db
        .exec(
            &format!("UPDATE steps SET wake_at = {now} WHERE run_id = $1 AND step_key = $2 AND status = 'waiting'"),
            &[run_id, step],
        )
        .await;
    let runs = db
        .exec(
            &format!("UPDATE runs SET run_at = {now} WHERE id = $1 AND status = 'sleeping'"),
            &[run_id],
        )
        .await;
    assert_eq!((steps, runs), (1, 1), "the run sleeps in {step}");
}

/// The Subject header, unfolded.
fn subject(m: &Received) -> String {
    let mut lines = m.data.lines().skip_while(|l| !l.starts_with("Subject: "));
    let mut out = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("Subject: ")
        .to_string();
    for l in lines.take_while(|l| l.starts_with(' ') || l.starts_with('\t')) {
        out.push_str(l);
    }
    out
}

/// (recipient, subject) of every message, in arrival order.
fn sent(sink: &SmtpSink) -> Vec<(String, String)> {
    sink.received().iter().map(|m| (m.to.join(","), subject(m))).collect()
}

// ---- send-workshop-access-emails -----------------------------------------------------------------------------

const DAY: &str = "2031-03-10";

/// The demo catalogue with its three cohort workshops moved: Foundations (with its attached email) opens on DAY at
/// 17:00, Building Agents (no email: the default one) at 09:00, Evals at 12:00 but nobody may enter it any more,
/// and a fourth date the next day. Dave's mail server refuses him.
async fn workshop_bed(b: Backend) -> (TestDb, SmtpSink, Vec<(String, String)>) {
    workshop_bed_on(b, DAY).await
}

/// [`workshop_bed`] with the workshops on another day.
async fn workshop_bed_on(b: Backend, day: &str) -> (TestDb, SmtpSink, Vec<(String, String)>) {
    let db = TestDb::new(b).await;
    demo::load(&db.db).await.unwrap();
    for (id, at) in [
        (ids::WORKSHOPS[0], format!("{day}T17:00:00.000Z")),
        (ids::WORKSHOPS[1], format!("{day}T09:00:00.000Z")),
        (ids::WORKSHOPS[2], format!("{day}T12:00:00.000Z")),
    ] {
        let patch = json!({"startsAt": at, "description": "Day one"});
        content::merge_resource_fields(&db.db, id, patch.as_object().unwrap())
            .await
            .unwrap();
    }
    db.exec(
        "UPDATE entitlements SET deleted_at = CURRENT_TIMESTAMP WHERE metadata LIKE '%workshop_demo_evals%'",
        &[],
    )
    .await;
    let sink = SmtpSink::start(Some("dave@example.com"), None).await;
    let mut e = env(&db.url, "http://127.0.0.1:9", &sink.url());
    e.push(("NEXT_PUBLIC_SUPPORT_EMAIL".into(), SUPPORT.into()));
    (db, sink, e)
}

const TICK: &str = "2031-03-10T00:30:00Z";

fn agents_step(prefix: &str) -> String {
    format!("{prefix}-{}", ids::WORKSHOPS[1])
}

both!(workshop_access_emails_go_out_at_each_start, workshop_impl);
async fn workshop_impl(b: Backend) {
    let (db, sink, env) = workshop_bed(b).await;
    assert!(fire(&db, access::ID, access::SCHEDULE, ms(TICK)).await);
    let run_id = due_now(&db, access::ID).await;
    let d = Daemon::start(&env);
    d.api.drain().await;
    let run = d.api.run(&run_id).await;
    assert_eq!(run["status"], "sleeping", "{run}");
    let workshops = &run["steps"][1]["output"][0];
    let order: Vec<&str> = workshops
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [ids::WORKSHOPS[1], ids::WORKSHOPS[2], ids::WORKSHOPS[0]],
        "earliest start first"
    );
    assert!(sink.received().is_empty(), "nothing before 09:00");

    // 09:00: Building Agents, no attached email: the default one; Alice gets it, Dave's server refuses him.
    make_sleep_due(&db, &run_id, &agents_step("wait-for-workshop-start")).await;
    d.api.drain().await;
    assert_eq!(
        sent(&sink),
        [(
            "alice@example.com".to_string(),
            "Your access to Building Agents opens today".to_string()
        )]
    );
    let body = &sink.received()[0].data;
    assert!(body.contains("Hi Alice,") && body.contains("Day one"), "{body}");
    assert!(body.contains("https://aihero.test/workshops/"), "{body}");
    assert!(body.contains(&format!("Reply-To: {SUPPORT}")), "{body}");
    let run = d.api.run(&run_id).await;
    let agents = super::harness::step(&run, &agents_step("send-emails"));
    assert_eq!(
        (agents["output"]["sent"].as_i64(), agents["output"]["failed"].as_i64()),
        (Some(1), Some(1)),
        "{agents}"
    );
    assert_eq!(agents["output"]["errors"][0]["to"], "dave@example.com");

    // 12:00: Evals, whose entitlements are gone: skipped. 17:00: Foundations, its attached email.
    make_sleep_due(&db, &run_id, &format!("wait-for-workshop-start-{}", ids::WORKSHOPS[2])).await;
    d.api.drain().await;
    make_sleep_due(&db, &run_id, &format!("wait-for-workshop-start-{}", ids::WORKSHOPS[0])).await;
    d.api.drain_all().await;
    let run = d.api.run(&run_id).await;
    assert_eq!(run["status"], "completed", "{run}");
    let evals = super::harness::step(&run, &format!("send-emails-{}", ids::WORKSHOPS[2]));
    assert_eq!(evals["output"]["skipped"], "no entitled users");
    assert_eq!(
        sent(&sink),
        [
            (
                "alice@example.com".to_string(),
                "Your access to Building Agents opens today".to_string()
            ),
            ("alice@example.com".to_string(), "Foundations opens today".to_string()),
        ]
    );
    assert!(sink.received()[1].data.contains("Welcome in!"));
    let w = |p: &str| ids::WORKSHOPS.map(|id| format!("{p}-{id}"));
    let (prep, wait, send) = (w("prep-workshop"), w("wait-for-workshop-start"), w("send-emails"));
    let mut expected = vec![
        "get-cohort-products".to_string(),
        "get-workshops-starting-today".to_string(),
    ];
    for i in [1, 2, 0] {
        expected.extend([prep[i].clone(), wait[i].clone(), send[i].clone()]);
    }
    expected.push("log-summary".into());
    assert_eq!(step_ids(&run), expected);
    let out = &run["output"];
    assert_eq!(out["day"], DAY);
    assert_eq!(
        (
            out["totalProductsProcessed"].as_i64(),
            out["totalWorkshopsStartingToday"].as_i64(),
            out["totalWorkshopsScheduled"].as_i64(),
            out["totalEmailsSent"].as_i64(),
            out["totalEmailsFailed"].as_i64(),
        ),
        (Some(1), Some(3), Some(3), Some(2), Some(2)),
        "{out}"
    );
    assert_eq!(out["errors"].as_array().unwrap().len(), 2, "{out}");
}

both!(
    kill9_while_waiting_for_a_workshop_then_the_same_tick_again,
    workshop_kill9_impl
);
async fn workshop_kill9_impl(b: Backend) {
    let (db, sink, env) = workshop_bed(b).await;
    assert!(fire(&db, access::ID, access::SCHEDULE, ms(TICK)).await);
    let run_id = due_now(&db, access::ID).await;
    let d = Daemon::start(&env);
    d.api.drain().await;
    make_sleep_due(&db, &run_id, &agents_step("wait-for-workshop-start")).await;
    d.api.drain().await;
    assert_eq!(sink.received().len(), 1);
    // Waiting for Evals at 12:00 when the daemon dies; the rest of the day passes while it is down.
    d.kill9();
    make_sleep_due(&db, &run_id, &format!("wait-for-workshop-start-{}", ids::WORKSHOPS[2])).await;
    let d = Daemon::start(&env);
    d.api.drain().await;
    make_sleep_due(&db, &run_id, &format!("wait-for-workshop-start-{}", ids::WORKSHOPS[0])).await;
    d.api.drain_all().await;
    let run = d.api.run(&run_id).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(sent(&sink).len(), 2, "each email once: {:?}", sent(&sink));
    for step in run["steps"].as_array().unwrap() {
        let statuses: Vec<&str> = step["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["status"].as_str().unwrap())
            .collect();
        let expected: &[&str] = if step["kind"] == "sleep" {
            &["waiting", "completed"]
        } else {
            &["completed"]
        };
        assert_eq!(statuses, expected, "every step ran once: {step}");
    }
    // The same tick again (a second daemon, a replay): refused, no second run, no email.
    assert!(!fire(&db, access::ID, access::SCHEDULE, ms(TICK)).await);
    d.api.drain_all().await;
    assert_eq!(d.api.runs_of_function(access::ID).await.len(), 1);
    assert_eq!(sent(&sink).len(), 2);
}

both!(past_starts_send_at_once_and_no_mailer_fails_the_step, past_impl);
async fn past_impl(b: Backend) {
    // A day already over (a tick that ran late): every start has passed, so each workshop's emails go at once.
    let (db, sink, env) = workshop_bed_on(b, "2026-03-10").await;
    assert!(fire(&db, access::ID, access::SCHEDULE, ms("2026-03-10T00:30:00Z")).await);
    let d = Daemon::start(&env);
    d.api.drain_all().await;
    // The schedule has now fired before, so the start-up also caught up today's tick (which finds nothing).
    let runs: Vec<Value> = d
        .api
        .runs_of_function(access::ID)
        .await
        .into_iter()
        .filter(|r| r["output"]["day"] == "2026-03-10")
        .collect();
    assert_eq!(runs[0]["status"], "completed", "{}", runs[0]);
    assert_eq!(
        sent(&sink),
        [
            (
                "alice@example.com".to_string(),
                "Your access to Building Agents opens today".to_string()
            ),
            ("alice@example.com".to_string(), "Foundations opens today".to_string()),
        ]
    );
    assert_eq!(
        (
            runs[0]["output"]["totalEmailsSent"].as_i64(),
            runs[0]["output"]["totalEmailsFailed"].as_i64()
        ),
        (Some(2), Some(2))
    );
    d.kill9();

    // The next day Evals opens (its entitlements back), but no mailer is configured: the send step fails for good,
    // naming the missing settings, instead of counting every recipient as failed.
    let patch = json!({"startsAt": "2026-03-11T09:00:00.000Z"});
    content::merge_resource_fields(&db.db, ids::WORKSHOPS[2], patch.as_object().unwrap())
        .await
        .unwrap();
    db.exec(
        "UPDATE entitlements SET deleted_at = NULL WHERE metadata LIKE '%workshop_demo_evals%'",
        &[],
    )
    .await;
    let no_mailer: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k != "SMTP_URL").collect();
    assert!(fire(&db, access::ID, access::SCHEDULE, ms("2026-03-11T00:30:00Z")).await);
    let d = Daemon::start(&no_mailer);
    d.api.drain_all().await;
    let runs = d.api.runs_of_function(access::ID).await;
    let run = &runs[0]; // the newest: 2026-03-11's
    assert_eq!(
        (run["status"].as_str(), run["output"].clone()),
        (Some("failed"), Value::Null),
        "{run}"
    );
    let step = super::harness::step(run, &format!("send-emails-{}", ids::WORKSHOPS[2]));
    assert_eq!(
        (step["status"].as_str(), step["attempts"].as_i64()),
        (Some("failed"), Some(1)),
        "{step}"
    );
    assert!(run["error"]["message"].as_str().unwrap().contains("SMTP_URL"), "{run}");
    assert_eq!(sink.received().len(), 2, "nothing more was sent");
}

both!(a_tick_missed_while_down_fires_once_at_start, missed_tick_impl);
async fn missed_tick_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let sink = SmtpSink::start(None, None).await;
    let mut env = env(&db.url, "http://127.0.0.1:9", &sink.url());
    env.push(("INGOT_LOG".into(), "info,ingot_actors::scheduler=debug".into()));
    let schedule = CronSchedule::parse(access::SCHEDULE).unwrap();
    // A new deployment: the schedule never fired, so nothing is caught up.
    let d = Daemon::start(&env);
    d.wait_for_log(&["no missed cron tick", access::ID], std::time::Duration::from_secs(30));
    assert!(d.api.runs_of_function(access::ID).await.is_empty());
    d.kill9();

    // It fired two days before the latest tick, and the daemon was down since: the latest tick runs, once.
    let due = schedule.last_at_or_before(now_ms()).unwrap();
    let before = due - 2 * 86_400_000;
    db.exec(
        &format!("INSERT INTO cron_ticks (function_id, schedule, tick_at, event_id) VALUES ($1, $2, {before}, 'old')"),
        &[access::ID, access::SCHEDULE],
    )
    .await;
    let d = Daemon::start(&env);
    d.wait_for_log(&["firing it late", access::ID], std::time::Duration::from_secs(30));
    d.wait_for_log(&["cron tick fired", access::ID], std::time::Duration::from_secs(30));
    d.api.drain().await;
    let runs = d.api.runs_of_function(access::ID).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run["status"], "completed", "{run}");
    let day = access::tick_day(due).to_string();
    assert_eq!(run["output"]["day"], day.as_str(), "the missed tick's own day: {run}");
    assert_eq!(run["output"]["totalWorkshopsStartingToday"], 0);
    let ticks = super::harness::texts(
        &db,
        "SELECT CAST(tick_at AS TEXT) AS t FROM cron_ticks WHERE function_id = $1 ORDER BY tick_at",
        &[access::ID],
    )
    .await;
    assert_eq!(ticks, [before.to_string(), due.to_string()]);
    d.kill9();

    // Restarted again: that tick is recorded, nothing more fires.
    let d = Daemon::start(&env);
    d.wait_for_log(&["no missed cron tick", access::ID], std::time::Duration::from_secs(30));
    d.api.drain().await;
    assert_eq!(d.api.runs_of_function(access::ID).await.len(), 1);
}

// ---- event-reminder-broadcast ---------------------------------------------------------------------------------

/// 06:00 in Los Angeles on 2031-03-10 (PDT since 03-09): 13:00 UTC.
const LA_TICK: &str = "2031-03-10T13:00:00Z";

both!(event_reminders_go_out_at_their_time, reminders_impl);
async fn reminders_impl(b: Backend) {
    let db = TestDb::new(b).await;
    demo::load(&db.db).await.unwrap();
    builders::purchase(
        &db.db,
        "purch_bob_series",
        ids::BOB,
        ids::PRODUCT_EVENT_SERIES,
        PurchaseStatus::Valid,
        15_000,
    )
    .await
    .unwrap();
    let set = async |id: &str, fields: Value| {
        content::merge_resource_fields(&db.db, id, fields.as_object().unwrap())
            .await
            .unwrap();
    };
    // Office Hours at 16:00 (reminder 2 h before: 14:00); series day 1 at 01:00 the next day (reminder 23:00);
    // day 2 the day after (out of the window); a draft event is never reminded of.
    set(
        ids::EVENT,
        json!({"startsAt": "2031-03-10T16:00:00.000Z", "state": "published", "slug": "office-hours"}),
    )
    .await;
    set(
        ids::SERIES_EVENTS[0],
        json!({"startsAt": "2031-03-11T01:00:00.000Z", "state": "published"}),
    )
    .await;
    set(
        ids::SERIES_EVENTS[1],
        json!({"startsAt": "2031-03-12T01:00:00.000Z", "state": "published"}),
    )
    .await;
    builders::resource(
        &db.db,
        "ev_draft",
        "event",
        "Draft",
        json!({"startsAt": "2031-03-10T20:00:00.000Z", "state": "draft"}),
    )
    .await
    .unwrap();
    let email =
        json!({"subject": "{{title}} starts soon, {{user.email}}", "body": "Join at {{url}} ({{event.title}})"});
    builders::resource(&db.db, "email_rem_oh", "email", "Office Hours reminder", email)
        .await
        .unwrap();
    builders::resource(&db.db, "email_rem_day", "email", "Day reminder", json!({}))
        .await
        .unwrap();
    let reminder = |h: f64| json!({"type": "event-reminder", "hoursInAdvance": h});
    content::link_resources(&db.db, ids::EVENT, "email_rem_oh", 5.0, &reminder(2.0))
        .await
        .unwrap();
    for ev in [ids::SERIES_EVENTS[0], ids::SERIES_EVENTS[1], "ev_draft"] {
        content::link_resources(&db.db, ev, "email_rem_day", 5.0, &reminder(2.0))
            .await
            .unwrap();
    }
    let sink = SmtpSink::start(None, None).await;
    let mut e = env(&db.url, "http://127.0.0.1:9", &sink.url());
    e.push(("NEXT_PUBLIC_SUPPORT_EMAIL".into(), SUPPORT.into()));

    assert!(fire(&db, reminders::ID, reminders::SCHEDULE, ms(LA_TICK)).await);
    let run_id = due_now(&db, reminders::ID).await;
    let d = Daemon::start(&e);
    d.api.drain().await;
    let run = d.api.run(&run_id).await;
    assert_eq!(run["status"], "sleeping", "{run}");
    let due: Vec<(String, String)> = run["steps"][0]["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["eventId"].as_str().unwrap().to_string(),
                r["at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        due,
        [
            (ids::EVENT.to_string(), "2031-03-10T14:00:00Z".to_string()),
            (ids::SERIES_EVENTS[0].to_string(), "2031-03-10T23:00:00Z".to_string()),
        ]
    );

    let oh = format!("{}-email_rem_oh", ids::EVENT);
    make_sleep_due(&db, &run_id, &format!("wait-for-reminder-{oh}")).await;
    d.api.drain().await;
    // The event's valid buyer (not Frank, disputed), then the support address.
    assert_eq!(
        sent(&sink),
        [
            (
                "alice@example.com".to_string(),
                "Office Hours starts soon, alice@example.com".to_string()
            ),
            (SUPPORT.to_string(), format!("Office Hours starts soon, {SUPPORT}")),
        ]
    );
    assert!(
        sink.received()[0]
            .data
            .contains("Join at https://aihero.test/events/office-hours (Office Hours)")
    );

    let day = format!("{}-email_rem_day", ids::SERIES_EVENTS[0]);
    make_sleep_due(&db, &run_id, &format!("wait-for-reminder-{day}")).await;
    d.api.drain_all().await;
    let run = d.api.run(&run_id).await;
    assert_eq!(run["status"], "completed", "{run}");
    let tail: Vec<(String, String)> = sent(&sink).into_iter().skip(2).collect();
    // No buyer of the day itself: the series' valid buyer (Bob; not Grace, banned); the default texts.
    let default_subject = "Tomorrow's Live Build Day 1 - Please Review Instructions First!";
    assert_eq!(
        tail,
        [
            ("bob@example.com".to_string(), default_subject.to_string()),
            (SUPPORT.to_string(), default_subject.to_string())
        ]
    );
    assert!(
        sink.received()[2]
            .data
            .contains("Reminder: Your event is starting soon!")
    );
    assert_eq!(
        step_ids(&run),
        [
            "get-reminders-to-schedule".to_string(),
            format!("wait-for-reminder-{oh}"),
            format!("send-reminder-{oh}"),
            format!("wait-for-reminder-{day}"),
            format!("send-reminder-{day}"),
        ]
    );
    assert_eq!(
        (run["output"]["scheduled"].as_i64(), run["output"]["sent"].as_i64()),
        (Some(2), Some(4)),
        "{run}"
    );
    assert_eq!(run["output"]["errors"], json!([]));
}

both!(a_reminder_without_a_mailer_fails_its_step, reminder_no_mailer_impl);
async fn reminder_no_mailer_impl(b: Backend) {
    let db = TestDb::new(b).await;
    demo::load(&db.db).await.unwrap();
    // 06:00 in Los Angeles on 2026-03-10 (PDT): 13:00 UTC; Office Hours at 16:00, reminded at 14:00 (past: at once).
    let fields = json!({"startsAt": "2026-03-10T16:00:00.000Z", "state": "published"});
    content::merge_resource_fields(&db.db, ids::EVENT, fields.as_object().unwrap())
        .await
        .unwrap();
    builders::resource(&db.db, "email_rem", "email", "Reminder", json!({}))
        .await
        .unwrap();
    let meta = json!({"type": "event-reminder", "hoursInAdvance": 2});
    content::link_resources(&db.db, ids::EVENT, "email_rem", 1.0, &meta)
        .await
        .unwrap();
    let sink = SmtpSink::start(None, None).await;
    let no_mailer: Vec<(String, String)> = env(&db.url, "http://127.0.0.1:9", &sink.url())
        .into_iter()
        .filter(|(k, _)| k != "SMTP_URL")
        .collect();
    assert!(fire(&db, reminders::ID, reminders::SCHEDULE, ms("2026-03-10T13:00:00Z")).await);
    let d = Daemon::start(&no_mailer);
    d.api.drain_all().await;
    // The start-up also caught up today's tick (the schedule fired before); it has nothing due.
    let failed: Vec<Value> = d
        .api
        .runs_of_function(reminders::ID)
        .await
        .into_iter()
        .filter(|r| r["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let step = super::harness::step(&failed[0], &format!("send-reminder-{}-email_rem", ids::EVENT));
    assert_eq!(
        (step["status"].as_str(), step["attempts"].as_i64()),
        (Some("failed"), Some(1)),
        "{step}"
    );
    assert!(
        failed[0]["error"]["message"].as_str().unwrap().contains("SMTP_URL"),
        "{}",
        failed[0]
    );
    assert!(sink.received().is_empty());
}
