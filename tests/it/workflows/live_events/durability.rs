//! Live events: a kill -9 while Google holds its answer to the attendee PATCH (the buyer is on the list once,
//! nothing is patched twice, the welcome email went out once), and replays (the same event id; another event
//! for the same purchase) that change nothing.

use super::*;
use crate::both;
use crate::workflows::fanout_support::run_of;
use std::time::{Duration, Instant};

both!(kill9_while_google_patches_adds_once, kill9_impl);
async fn kill9_impl(b: Backend) {
    let bed = Bed::new(b, None).await;
    bed.purchase("p_kill", BUYER, ids::PRODUCT_EVENT, PurchaseStatus::Valid, None, None)
        .await;
    bed.google.state.lock().unwrap().first_patch_delay = Some(Duration::from_secs(30));
    let env = bed.env();
    let d = Daemon::start(&env);
    let ev = announce(&d.api, "p_kill").await;
    // Google has applied the PATCH and holds its answer; the welcome email has gone out.
    let deadline = Instant::now() + Duration::from_secs(60);
    let welcomed = "SELECT COUNT(*) AS n FROM runs WHERE function_id = $1 AND status = 'completed'";
    while bed.google.requests("PATCH").is_empty() || bed.db.count(welcomed, &[WELCOME]).await == 0 {
        assert!(Instant::now() < deadline, "the PATCH or the email never happened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.kill9();
    assert_eq!(
        bed.google.attendees("gcal_demo_office_hours"),
        [HOST, "other@example.com", BUYER_EMAIL]
    );
    let done = "SELECT COUNT(*) AS n FROM steps WHERE step_key = 'add user to calendar event' AND status = 'completed'";
    assert_eq!(
        bed.db.count(done, &[]).await,
        0,
        "killed before the step's result was stored"
    );

    let d = Daemon::start(&env);
    d.api.drain().await;
    let run = run_of(&d.api, &ev, POST).await;
    assert_eq!(run["status"], "completed", "{run}");
    // The step ran again: its GET found the buyer on the list, so no second PATCH.
    assert_eq!(run["output"]["gCalEvent"]["added"], false, "{run}");
    assert_eq!(bed.google.requests("GET").len(), 2);
    assert_eq!(bed.google.requests("PATCH").len(), 1);
    assert_eq!(
        bed.google.attendees("gcal_demo_office_hours"),
        [HOST, "other@example.com", BUYER_EMAIL]
    );
    for s in run["steps"].as_array().unwrap() {
        assert_eq!(s["attempts"], 1, "no step before the kill ran twice: {s}");
    }
    assert_eq!(bed.sink.received().len(), 1, "one welcome email");
}

both!(replays_change_nothing, replay_impl);
async fn replay_impl(b: Backend) {
    let bed = Bed::new(b, None).await;
    bed.purchase("p_replay", BUYER, ids::PRODUCT_EVENT, PurchaseStatus::Valid, None, None)
        .await;
    let d = start(&bed);
    let event = json!({"name": "purchase/created", "id": "evt_live_1",
        "data": {"purchaseId": "p_replay", "productType": "live", "checkoutSessionId": "cs_p_replay"}});
    let first = d.api.send(event.clone()).await;
    d.api.drain().await;
    let post = run_of(&d.api, &first[0], POST).await;
    let welcome = run_of(&d.api, &first[0], WELCOME).await;
    assert_eq!(post["output"]["gCalEvent"]["added"], true, "{post}");
    // The buyer was taken off by hand: a new run would put them back. A replay must not.
    bed.google
        .put(json!({"id": "gcal_demo_office_hours", "status": "confirmed", "attendees": [{"email": HOST}]}));

    // The same event again: a duplicate, no run.
    let again = d.api.send(event).await;
    // Another event for the same purchase and session: each function's idempotency key skips it.
    let other = announce(&d.api, "p_replay").await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(
        (ev["duplicate"].as_bool(), ev["run_ids"].clone()),
        (Some(true), json!([])),
        "{ev}"
    );
    let ev = d.api.get_ok(&format!("/api/v1/events/{other}")).await;
    for (function, existing) in [(POST, &post["id"]), (WELCOME, &welcome["id"])] {
        let skip = ev["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["function_id"] == function)
            .unwrap_or_else(|| panic!("{function} not skipped: {ev}"));
        assert_eq!(
            (skip["reason"].as_str(), &skip["existing_run_id"]),
            (Some("idempotency_key"), existing),
            "{ev}"
        );
    }
    assert_eq!(d.api.runs_of_function(POST).await.len(), 1);
    assert_eq!(d.api.runs_of_function(WELCOME).await.len(), 1);
    assert_eq!(bed.google.requests("GET").len(), 1);
    assert_eq!(bed.google.requests("PATCH").len(), 1);
    assert_eq!(bed.google.attendees("gcal_demo_office_hours"), [HOST]);
    assert_eq!(bed.sink.received().len(), 1);
}
