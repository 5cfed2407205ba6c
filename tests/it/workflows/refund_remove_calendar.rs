//! `handle-refund-remove-calendar` end to end against a fake Google Calendar: a refunded buyer leaves a single
//! event's and every series event's attendee list (every entry of their email, case-insensitively, nothing
//! else), events gone from Calendar and events Google refuses to change are reported per event, and the skip
//! and non-retriable cases of the design document; a kill -9 while Google holds its answer to the attendee
//! PATCH (removed once, nothing patched twice), and a replayed event (nothing).

use super::harness::step_names;
use crate::both;
use crate::support::fake_google::{FakeGoogle, HOST};
use crate::support::process::{Daemon, base_env};
use crate::support::{Api, Backend, TestDb};
use ingot::platform::commerce::checkout::{self, ChargeAndPurchase, ParsedCheckoutSession};
use ingot::platform::commerce::merchants;
use ingot::seed::builders;
use ingot::seed::demo::{self, ids};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn buy(db: &TestDb, user: &str, product: &str, charge: &str) {
    let mp = match merchants::get_merchant_product(&db.db, &format!("stripe_{product}"))
        .await
        .unwrap()
    {
        Some(mp) => mp,
        None => {
            merchants::ensure_merchant_product(
                &db.db,
                &format!("mp_{product}"),
                ids::MERCHANT_ACCOUNT,
                product,
                &format!("stripe_{product}"),
            )
            .await
            .unwrap();
            merchants::get_merchant_product(&db.db, &format!("stripe_{product}"))
                .await
                .unwrap()
                .unwrap()
        }
    };
    let (customer, _) =
        merchants::find_or_create_merchant_customer(&db.db, ids::MERCHANT_ACCOUNT, user, &format!("cus_{user}"))
            .await
            .unwrap();
    checkout::create_merchant_charge_and_purchase(
        &db.db,
        &ChargeAndPurchase {
            user_id: user.into(),
            product_id: product.into(),
            merchant_account_id: ids::MERCHANT_ACCOUNT.into(),
            merchant_product_id: mp.id,
            merchant_customer_id: customer.id,
            session: ParsedCheckoutSession {
                checkout_session_id: format!("cs_{charge}"),
                stripe_charge_id: charge.into(),
                stripe_charge_amount_cents: 5_000,
                quantity: 1,
                ..ParsedCheckoutSession::default()
            },
        },
    )
    .await
    .unwrap();
}

/// The demo catalogue, a buyer of each live product, the calendar events in the fake Google, and the daemon's
/// settings.
async fn bed(b: Backend) -> (TestDb, FakeGoogle, Vec<(String, String)>) {
    let db = TestDb::new(b).await;
    demo::load(&db.db).await.unwrap();
    builders::user(&db.db, "u_buyer", "buyer@example.com", "Buyer")
        .await
        .unwrap();
    builders::user(&db.db, "u_noemail", "gone@example.com", "Gone")
        .await
        .unwrap();
    db.exec("UPDATE users SET email = '' WHERE id = 'u_noemail'", &[]).await;
    builders::resource(&db.db, "ev_nocal", "event", "Unscheduled", json!({}))
        .await
        .unwrap();
    builders::product(
        &db.db,
        "prod_nocal",
        "live",
        "Unscheduled",
        100,
        json!({}),
        &["ev_nocal"],
    )
    .await
    .unwrap();
    builders::product(&db.db, "prod_empty", "live", "Nothing Yet", 100, json!({}), &[])
        .await
        .unwrap();
    buy(&db, "u_buyer", ids::PRODUCT_EVENT, "ch_event").await;
    buy(&db, "u_buyer", ids::PRODUCT_EVENT_SERIES, "ch_series").await;
    buy(&db, "u_buyer", ids::PRODUCT_WORKSHOP, "ch_workshop").await;
    buy(&db, "u_buyer", "prod_nocal", "ch_nocal").await;
    buy(&db, "u_buyer", "prod_empty", "ch_empty").await;
    buy(&db, "u_noemail", ids::PRODUCT_EVENT, "ch_noemail").await;

    let google = FakeGoogle::start().await;
    let attendee = |e: &str| json!({"email": e, "responseStatus": "accepted"});
    google.put(json!({"id": "gcal_demo_office_hours", "summary": "Office Hours", "status": "confirmed",
        "attendees": [attendee(HOST), attendee("Buyer@Example.com"), attendee("other@example.com"), attendee("buyer@example.com ")]}));
    google.put(
        json!({"id": "gcal_demo_day_1", "summary": "Day 1", "status": "confirmed",
        "attendees": [attendee("buyer@example.com"), attendee("other@example.com")]}),
    );
    // gcal_demo_day_2 is not in Google (deleted there).
    let mut env = base_env(&db.url);
    env.extend(google.env());
    (db, google, env)
}

/// [`bed`] with the daemon started.
async fn setup(b: Backend) -> (TestDb, FakeGoogle, Daemon) {
    let (db, google, env) = bed(b).await;
    let d = Daemon::start(&env);
    (db, google, d)
}

async fn refund(api: &Api, data: Value) -> Value {
    let ids = api.send(json!({"name": "stripe/refund-processed", "data": data})).await;
    api.drain().await;
    let runs = api.runs_of(&ids[0]).await;
    let mine: Vec<&Value> = runs
        .iter()
        .filter(|r| r["function_id"] == "handle-refund-remove-calendar")
        .collect();
    assert_eq!(mine.len(), 1, "{runs:?}");
    mine[0].clone()
}

both!(removes_the_buyer_from_a_single_event, single_impl);
async fn single_impl(b: Backend) {
    let (_db, google, d) = setup(b).await;
    let run = refund(
        &d.api,
        json!({"stripeChargeId": "ch_event", "merchantChargeId": "ch_event"}),
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    let out = &run["output"];
    assert_eq!(out["outcome"], "success", "{run}");
    assert_eq!(out["calendarId"], "gcal_demo_office_hours");
    assert_eq!(
        (out["email"].as_str(), out["userId"].as_str()),
        (Some("buyer@example.com"), Some("u_buyer"))
    );
    assert_eq!(
        (out["productId"].as_str(), out["eventResourceId"].as_str()),
        (Some(ids::PRODUCT_EVENT), Some(ids::EVENT))
    );
    assert_eq!(out["removed"], true);
    assert_eq!(
        step_names(&run),
        [
            "fetch-purchase-by-stripe-charge-id",
            "fetch-purchased-product-details",
            "find-event-resource-id-for-product",
            "fetch-user-by-id",
            "fetch-and-validate-event-resource",
            "remove-user-from-google-event",
        ]
    );
    assert_eq!(google.attendees("gcal_demo_office_hours"), [HOST, "other@example.com"]);
    let patches = google.requests("PATCH");
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0].1.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["attendees"],
        "only the attendee list is patched"
    );

    // Refunded again: nothing left to remove, no PATCH.
    let run = refund(&d.api, json!({"stripeChargeId": "ch_event"})).await;
    assert_eq!(
        (run["output"]["outcome"].as_str(), run["output"]["removed"].as_bool()),
        (Some("success"), Some(false))
    );
    assert_eq!(google.requests("PATCH").len(), 1);
}

both!(removes_the_buyer_from_every_series_event, series_impl);
async fn series_impl(b: Backend) {
    let (_db, google, d) = setup(b).await;
    // The original platform's event name, with only the merchant charge id.
    let ids_ = d
        .api
        .send(json!({"name": "commerce/refund-processed", "data": {"merchantChargeId": "ch_series"}}))
        .await;
    d.api.drain().await;
    let run = d
        .api
        .runs_of(&ids_[0])
        .await
        .into_iter()
        .find(|r| r["function_id"] == "handle-refund-remove-calendar")
        .expect("a run");
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["outcome"], "event-series-processed");
    assert_eq!(run["output"]["eventResourceId"], ids::EVENT_SERIES);
    assert_eq!(
        run["output"]["childResults"],
        json!([
            {"eventId": ids::SERIES_EVENTS[0], "calendarId": "gcal_demo_day_1", "outcome": "success", "eventFound": true, "removed": true},
            {"eventId": ids::SERIES_EVENTS[1], "calendarId": "gcal_demo_day_2", "outcome": "success", "eventFound": false, "removed": false},
        ])
    );
    let names = step_names(&run);
    assert_eq!(
        &names[5..],
        [
            format!("remove-user-from-event-{}", ids::SERIES_EVENTS[0]),
            format!("remove-user-from-event-{}", ids::SERIES_EVENTS[1]),
        ]
    );
    assert_eq!(google.attendees("gcal_demo_day_1"), ["other@example.com"]);

    // Google refuses to change day 1: that event is reported failed (non-retriable: one attempt), day 2 still
    // processed, the run completes.
    google.put(json!({"id": "gcal_demo_day_1", "status": "confirmed", "attendees": [{"email": "buyer@example.com"}]}));
    google.state.lock().unwrap().forbidden.push("gcal_demo_day_1".into());
    let run = refund(&d.api, json!({"stripeChargeId": "ch_series"})).await;
    assert_eq!(run["status"], "completed", "{run}");
    let children = &run["output"]["childResults"];
    assert_eq!(children[0]["outcome"], "failed", "{run}");
    assert!(children[0]["error"].as_str().unwrap().contains("Forbidden"), "{run}");
    assert_eq!(children[1]["outcome"], "success");
    assert_eq!(run["steps"][5]["attempts"], 1);
}

both!(skips_and_non_retriable_failures, skips_impl);
async fn skips_impl(b: Backend) {
    let (_db, google, d) = setup(b).await;
    for (charge, outcome, reason) in [
        ("ch_workshop", "skipped", "Not a live event"),
        ("ch_empty", "skipped", "No event resource"),
        ("ch_nocal", "skipped", "No calendarId"),
    ] {
        let run = refund(&d.api, json!({"stripeChargeId": charge})).await;
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(
            (run["output"]["outcome"].as_str(), run["output"]["reason"].as_str()),
            (Some(outcome), Some(reason)),
            "{run}"
        );
    }
    for (data, message) in [
        (
            json!({"stripeChargeId": "ch_unknown"}),
            "Purchase not found for charge ID ch_unknown",
        ),
        (json!({"stripeChargeId": "ch_noemail"}), "User email not found"),
        (json!({}), "no stripeChargeId or merchantChargeId"),
    ] {
        let run = refund(&d.api, data).await;
        assert_eq!(run["status"], "failed", "{run}");
        assert_eq!(run["attempt"], 0, "non-retriable: {run}");
        assert!(run["error"]["message"].as_str().unwrap().contains(message), "{run}");
        for step in run["steps"].as_array().unwrap() {
            assert_eq!(step["attempts"], 1, "{step}");
        }
    }
    assert!(google.requests("PATCH").is_empty());
}

/// The PATCH bodies' attendee emails, one list per PATCH.
fn patched_emails(google: &FakeGoogle) -> Vec<Vec<String>> {
    google
        .requests("PATCH")
        .iter()
        .map(|(_, body)| {
            body["attendees"]
                .as_array()
                .expect("attendees")
                .iter()
                .map(|a| a["email"].as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

both!(kill9_while_google_patches_removes_once, kill9_impl);
async fn kill9_impl(b: Backend) {
    let (db, google, env) = bed(b).await;
    google.state.lock().unwrap().first_patch_delay = Some(Duration::from_secs(30));
    let d = Daemon::start(&env);
    let sent = d
        .api
        .send(json!({"name": "stripe/refund-processed", "data": {"stripeChargeId": "ch_event"}}))
        .await;
    // Google has applied the PATCH; its answer is still on the way when the daemon dies.
    let deadline = Instant::now() + Duration::from_secs(60);
    while google.requests("PATCH").is_empty() {
        assert!(Instant::now() < deadline, "the PATCH never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.kill9();
    assert_eq!(google.attendees("gcal_demo_office_hours"), [HOST, "other@example.com"]);
    let steps_done = db
        .count(
            "SELECT COUNT(*) AS n FROM steps WHERE step_key = 'remove-user-from-google-event' AND status = 'completed'",
            &[],
        )
        .await;
    assert_eq!(steps_done, 0, "the kill came before the step's result was stored");

    let d = Daemon::start(&env);
    d.api.drain().await;
    let runs: Vec<Value> = d
        .api
        .runs_of(&sent[0])
        .await
        .into_iter()
        .filter(|r| r["function_id"] == "handle-refund-remove-calendar")
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        (run["output"]["outcome"].as_str(), run["output"]["calendarId"].as_str()),
        (Some("success"), Some("gcal_demo_office_hours")),
        "{run}"
    );
    // The step ran again after the restart: one more GET found the buyer already gone, so no second PATCH (its
    // output says so: this execution removed nothing).
    assert_eq!(run["output"]["removed"], false, "{run}");
    assert_eq!(
        step_names(run),
        [
            "fetch-purchase-by-stripe-charge-id",
            "fetch-purchased-product-details",
            "find-event-resource-id-for-product",
            "fetch-user-by-id",
            "fetch-and-validate-event-resource",
            "remove-user-from-google-event",
        ]
    );
    assert_eq!(google.requests("GET").len(), 2, "one GET before the kill, one after");
    let patched = patched_emails(&google);
    assert_eq!(
        patched,
        [[HOST, "other@example.com"]],
        "one PATCH, without any of the buyer's entries"
    );
    assert_eq!(google.attendees("gcal_demo_office_hours"), [HOST, "other@example.com"]);
}

both!(replayed_refund_does_nothing, replay_impl);
async fn replay_impl(b: Backend) {
    let (_db, google, d) = setup(b).await;
    let event =
        json!({"name": "stripe/refund-processed", "id": "evt_refund_1", "data": {"stripeChargeId": "ch_event"}});
    let first = d.api.send(event.clone()).await;
    d.api.drain().await;
    let runs: Vec<Value> = d
        .api
        .runs_of(&first[0])
        .await
        .into_iter()
        .filter(|r| r["function_id"] == "handle-refund-remove-calendar")
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["output"]["removed"], true, "{}", runs[0]);
    assert_eq!(google.requests("PATCH").len(), 1);

    // The buyer is back on the event (added by hand): a run would take them off again. The replay must not.
    google.put(json!({"id": "gcal_demo_office_hours", "status": "confirmed",
        "attendees": [{"email": HOST}, {"email": "buyer@example.com"}]}));
    let again = d.api.send(event).await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(
        (ev["duplicate"].as_bool(), ev["run_ids"].clone()),
        (Some(true), json!([])),
        "{ev}"
    );
    assert_eq!(ev["skipped"][0]["reason"], "duplicate_event_id", "{ev}");
    assert_eq!(d.api.runs_of_function("handle-refund-remove-calendar").await.len(), 1);
    assert_eq!(google.requests("GET").len(), 1, "nothing asked Google again");
    assert_eq!(google.requests("PATCH").len(), 1);
    assert_eq!(google.attendees("gcal_demo_office_hours"), [HOST, "buyer@example.com"]);
}
