//! `calendar-sync` end to end against a fake Google Calendar: create, update, re-create when the event was
//! cancelled or deleted, the calendar id stored on the resource, the skip and failure cases, and a kill -9
//! while Google is creating the event (no second event), and a replayed event (nothing).

use super::harness::step_names;
use crate::both;
use crate::support::fake_google::{FakeGoogle, HOST};
use crate::support::process::{Daemon, base_env};
use crate::support::{Api, Backend, TestDb};
use ingot::functions::live_events::calendar_sync::event_id_for;
use ingot::platform::content;
use ingot::seed::builders;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn env(db: &TestDb, google: &FakeGoogle) -> Vec<(String, String)> {
    let mut env = base_env(&db.url);
    env.extend(google.env());
    env.push(("NEXT_PUBLIC_SITE_TITLE".into(), "AI Hero".into()));
    env
}

/// Sends `resource/updated` (or created) for a resource and returns its one run once settled.
async fn sync(api: &Api, name: &str, id: &str) -> Value {
    let ids = api
        .send(json!({"name": name, "data": {"id": id, "type": "event"}}))
        .await;
    api.drain().await;
    api.only_run(&ids[0]).await
}

async fn stored_calendar_id(db: &TestDb, id: &str) -> Option<String> {
    content::get_content_resource(&db.db, id).await.unwrap().unwrap().fields["calendarId"]
        .as_str()
        .map(str::to_string)
}

fn times() -> Value {
    json!({"startsAt": "2026-12-03T18:00:00.000Z", "endsAt": "2026-12-03T19:00:00.000Z", "body": "Bring **questions**.\n\n- one\n- two", "location": "Zoom"})
}

both!(creates_updates_and_recreates, create_update_impl);
async fn create_update_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let google = FakeGoogle::start().await;
    builders::resource(&db.db, "ev_1", "event", "Office Hours", times())
        .await
        .unwrap();
    let d = Daemon::start(&env(&db, &google));

    // 1. No calendar id yet: created under our deterministic id, stored on the resource.
    let run = sync(&d.api, "resource/created", "ev_1").await;
    assert_eq!(run["status"], "completed", "{run}");
    let first = event_id_for("ev_1", "", 0);
    assert_eq!(run["output"], json!({"outcome": "created", "calendarId": first}));
    assert_eq!(
        step_names(&run),
        [
            "fetch-event-resource",
            "create-google-event",
            "update-resource-with-calendar-id"
        ]
    );
    assert_eq!(stored_calendar_id(&db, "ev_1").await.as_deref(), Some(first.as_str()));
    let ev = google.event(&first).unwrap();
    assert_eq!(ev["summary"], "Office Hours");
    assert_eq!(
        ev["description"],
        "<p>Bring <strong>questions</strong>.</p><ul><li>one</li><li>two</li></ul>"
    );
    assert_eq!(
        ev["start"],
        json!({"dateTime": "2026-12-03T18:00:00.000Z", "timeZone": "America/Los_Angeles"})
    );
    assert_eq!(ev["location"], "Zoom");
    assert_eq!(ev["organizer"], json!({"email": HOST, "displayName": "AI Hero"}));
    assert_eq!(ev["attendees"][0]["email"], HOST);
    assert_eq!(ev["attendees"][0]["responseStatus"], "accepted");
    assert_eq!(
        (
            ev["guestsCanInviteOthers"].clone(),
            ev["guestsCanSeeOtherGuests"].clone()
        ),
        (json!(false), json!(false))
    );

    // 2. The event exists: updated in place, nothing created, the resource untouched.
    content::merge_resource_fields(
        &db.db,
        "ev_1",
        &json!({"title": "Office Hours (moved)", "startsAt": "2026-12-04T18:00:00.000Z", "endsAt": "2026-12-04T19:00:00.000Z", "timezone": "Europe/Paris"})
            .as_object()
            .unwrap()
            .clone(),
    )
    .await
    .unwrap();
    let run = sync(&d.api, "resource/updated", "ev_1").await;
    assert_eq!(
        run["output"],
        json!({"outcome": "updated", "calendarId": first}),
        "{run}"
    );
    assert_eq!(
        step_names(&run),
        ["fetch-event-resource", "get-google-event", "update-google-event"]
    );
    let ev = google.event(&first).unwrap();
    assert_eq!(ev["summary"], "Office Hours (moved)");
    assert_eq!(ev["start"]["timeZone"], "Europe/Paris");
    assert_eq!(google.requests("POST").len(), 1, "no second insert");
    let patches = google.requests("PATCH");
    assert_eq!(patches.len(), 1);
    assert!(
        patches[0].1.get("attendees").is_none(),
        "an update leaves the guests alone"
    );

    // 3. Cancelled in Calendar: a new event, replacing the old id.
    google.state.lock().unwrap().events.get_mut(&first).unwrap()["status"] = json!("cancelled");
    let run = sync(&d.api, "resource/updated", "ev_1").await;
    let second = event_id_for("ev_1", &first, 0);
    assert_eq!(
        run["output"],
        json!({"outcome": "created", "calendarId": second}),
        "{run}"
    );
    assert_eq!(stored_calendar_id(&db, "ev_1").await.as_deref(), Some(second.as_str()));

    // 4. Deleted from Calendar (404): created again.
    google.state.lock().unwrap().events.remove(&second);
    let run = sync(&d.api, "resource/updated", "ev_1").await;
    let third = event_id_for("ev_1", &second, 0);
    assert_eq!(
        run["output"],
        json!({"outcome": "created", "calendarId": third}),
        "{run}"
    );
    assert_eq!(google.events().len(), 2, "the cancelled one and the live one");

    // 5. The calendar id was lost from the resource while our first event is still live: adopted, not doubled.
    content::merge_resource_fields(
        &db.db,
        "ev_1",
        &json!({"calendarId": null}).as_object().unwrap().clone(),
    )
    .await
    .unwrap();
    google.state.lock().unwrap().events.get_mut(&first).unwrap()["status"] = json!("confirmed");
    let run = sync(&d.api, "resource/updated", "ev_1").await;
    assert_eq!(
        run["output"],
        json!({"outcome": "created", "calendarId": first}),
        "{run}"
    );
    assert_eq!(google.events().len(), 2, "no new event");
}

both!(skips_and_failures, skips_impl);
async fn skips_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let google = FakeGoogle::start().await;
    builders::resource(
        &db.db,
        "ev_no_times",
        "event",
        "No Times Yet",
        json!({"startsAt": "2026-12-03T18:00:00.000Z"}),
    )
    .await
    .unwrap();
    builders::resource(&db.db, "ev_bad", "event", "X", times())
        .await
        .unwrap();
    builders::resource(
        &db.db,
        "ev_bad_time",
        "event",
        "Bad time",
        json!({"startsAt": "soon", "endsAt": "later"}),
    )
    .await
    .unwrap();
    builders::resource(&db.db, "post_1", "post", "A post", times())
        .await
        .unwrap();
    let d = Daemon::start(&env(&db, &google));

    let run = sync(&d.api, "resource/updated", "ev_no_times").await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        run["output"],
        json!({"outcome": "skipped", "skipped": true, "reason": "Missing required fields", "calendarId": null})
    );

    for (id, message) in [
        ("ev_missing", "Resource not found"),
        ("ev_bad", "Invalid event resource format"),
        ("ev_bad_time", "Invalid event resource format"),
        ("post_1", "Invalid event resource format"),
    ] {
        let run = sync(&d.api, "resource/created", id).await;
        assert_eq!(run["status"], "failed", "{run}");
        assert_eq!(run["attempt"], 0, "non-retriable: {run}");
        assert!(run["error"]["message"].as_str().unwrap().contains(message), "{run}");
    }
    assert_eq!(run_count_of(&d.api).await, 5);

    // Other resource types do not start the function.
    let ids = d
        .api
        .send(json!({"name": "resource/updated", "data": {"id": "post_1", "type": "post"}}))
        .await;
    d.api.drain().await;
    assert!(d.api.runs_of(&ids[0]).await.is_empty());
    assert!(google.requests("POST").is_empty() && google.requests("PATCH").is_empty());
}

async fn run_count_of(api: &Api) -> usize {
    api.runs_of_function("calendar-sync").await.len()
}

both!(not_configured_is_an_error, not_configured_impl);
async fn not_configured_impl(b: Backend) {
    let db = TestDb::new(b).await;
    builders::resource(&db.db, "ev_1", "event", "Office Hours", times())
        .await
        .unwrap();
    let d = Daemon::start(&base_env(&db.url));
    let run = sync(&d.api, "resource/created", "ev_1").await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Google Calendar not configured"),
        "{run}"
    );
    assert_eq!(run["attempt"], 3, "a plain error: retried 3 times (design document)");
    assert_eq!(stored_calendar_id(&db, "ev_1").await, None);
}

both!(kill9_while_google_creates, kill9_impl);
async fn kill9_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let google = FakeGoogle::start().await;
    google.state.lock().unwrap().first_insert_delay = Some(Duration::from_secs(30));
    builders::resource(&db.db, "ev_1", "event", "Office Hours", times())
        .await
        .unwrap();
    let env = env(&db, &google);
    let d = Daemon::start(&env);
    d.api
        .send(json!({"name": "resource/created", "data": {"id": "ev_1", "type": "event"}}))
        .await;
    // Google has the event; its answer is still on the way when the daemon dies.
    let deadline = Instant::now() + Duration::from_secs(60);
    while google.requests("POST").is_empty() {
        assert!(Instant::now() < deadline, "the insert never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.kill9();
    assert_eq!(google.events().len(), 1);
    let steps_done = db
        .count(
            "SELECT COUNT(*) AS n FROM steps WHERE step_key = 'create-google-event' AND status = 'completed'",
            &[],
        )
        .await;
    assert_eq!(steps_done, 0, "the kill came before the step's result was stored");

    let d = Daemon::start(&env);
    d.api.drain().await;
    let run = &d.api.runs_of_function("calendar-sync").await[0];
    let id = event_id_for("ev_1", "", 0);
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!({"outcome": "created", "calendarId": id}));
    assert_eq!(google.events().len(), 1, "one calendar event");
    assert_eq!(
        google.requests("POST").len(),
        2,
        "inserted again after the restart: 409, adopted"
    );
    assert_eq!(stored_calendar_id(&db, "ev_1").await.as_deref(), Some(id.as_str()));
}

both!(replayed_event_does_nothing, replay_impl);
async fn replay_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let google = FakeGoogle::start().await;
    builders::resource(&db.db, "ev_1", "event", "Office Hours", times())
        .await
        .unwrap();
    let d = Daemon::start(&env(&db, &google));
    let event =
        json!({"name": "resource/created", "id": "resource-created-ev_1", "data": {"id": "ev_1", "type": "event"}});
    let first = d.api.send(event.clone()).await;
    d.api.drain().await;
    let runs = d.api.runs_of(&first[0]).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let id = event_id_for("ev_1", "", 0);
    assert_eq!(
        runs[0]["output"],
        json!({"outcome": "created", "calendarId": id}),
        "{}",
        runs[0]
    );

    // The resource changed since: a run would update the calendar event. The replay must start none.
    content::merge_resource_fields(
        &db.db,
        "ev_1",
        &json!({"title": "Office Hours (moved)"}).as_object().unwrap().clone(),
    )
    .await
    .unwrap();
    let again = d.api.send(event).await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(
        (ev["duplicate"].as_bool(), ev["run_ids"].clone()),
        (Some(true), json!([])),
        "{ev}"
    );
    assert_eq!(ev["skipped"][0]["reason"], "duplicate_event_id", "{ev}");
    assert_eq!(run_count_of(&d.api).await, 1);
    let requests: Vec<String> = google
        .state
        .lock()
        .unwrap()
        .requests
        .iter()
        .map(|r| r.0.clone())
        .collect();
    assert_eq!(requests, ["POST"], "one insert, nothing after the replay");
    assert_eq!(google.events().len(), 1);
    assert_eq!(google.event(&id).unwrap()["summary"], "Office Hours");
}
