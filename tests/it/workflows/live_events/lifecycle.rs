//! Lifecycle scenario 7, from the signed Stripe webhooks: a live-event checkout (`checkout.session.completed`)
//! → purchase → the buyer on the calendar event and a welcome email with Los Angeles dates; the refund
//! (`charge.refunded`, which emits `stripe/refund-processed`) → `handle-refund-remove-calendar` takes them off.

use super::*;
use crate::both;
use crate::workflows::fanout_support::{body, run_of, subject};
use crate::workflows::harness::{Checkout, completed_event, emitted, env, post_webhook};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

both!(live_event_purchase_then_refund, lifecycle_impl);
async fn lifecycle_impl(b: Backend) {
    let bed = Bed::new(b, None).await;
    let stripe = MockServer::start().await;
    let c = Checkout::new("cs_live", "live.buyer@example.com", "stripe_prod_demo_event", 5_000);
    Mock::given(method("GET"))
        .and(path(c.path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(c.session_json()))
        .mount(&stripe)
        .await;
    let mut e = env(&bed.db.url, &stripe.uri(), &bed.sink.url());
    e.extend(bed.google.env());
    let d = Daemon::start(&e);

    // 1. The checkout webhook: a purchase, announced as a live purchase.
    let ids_ = post_webhook(
        &d.api,
        &completed_event("evt_live_checkout", "cs_live", "payment", "paid"),
    )
    .await;
    d.api.drain().await;
    let checkout = d.api.only_run(&ids_[0]).await;
    assert_eq!(checkout["status"], "completed", "{checkout}");
    let purchase_id = checkout["output"]["purchase"]["id"].as_str().unwrap().to_string();
    let announced = emitted(&bed.db, &d.api, &checkout, "send purchase created event").await;
    assert_eq!(announced[0]["event"]["data"]["productType"], "live");
    let created = announced[0]["id"].as_str().unwrap();

    // 2. The buyer is on the calendar event, once.
    let post = run_of(&d.api, created, POST).await;
    assert_eq!(post["status"], "completed", "{post}");
    assert_eq!(post["output"]["purchase"]["id"], purchase_id.as_str());
    assert_eq!(post["output"]["gCalEvent"]["added"], true, "{post}");
    assert_eq!(
        bed.google.attendees("gcal_demo_office_hours"),
        [HOST, "other@example.com", "live.buyer@example.com"]
    );

    // 3. The welcome email, with the Los Angeles date and times.
    let welcome = run_of(&d.api, created, WELCOME).await;
    assert_eq!(welcome["status"], "completed", "{welcome}");
    let mails: Vec<_> = bed
        .sink
        .received()
        .into_iter()
        .filter(|m| subject(&m.data).starts_with("You're in!"))
        .collect();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, ["live.buyer@example.com"]);
    let text = body(&mails[0].data);
    assert!(
        text.contains("December 3rd, 2026, 10:00 AM – 11:00 AM (Pacific Time)"),
        "{text}"
    );

    // 4. Stripe refunds the charge: the signed `charge.refunded` webhook.
    let refund = json!({
        "id": "evt_live_refund", "object": "event", "type": "charge.refunded", "api_version": "2024-06-20",
        "data": {"object": {"id": c.charge, "object": "charge", "amount": 5_000, "amount_refunded": 5_000,
                            "refunded": true, "payment_intent": "pi_1"}},
    });
    let refund_ids = post_webhook(&d.api, &refund).await;
    d.api.drain().await;
    let processed = bed
        .db
        .count(
            "SELECT COUNT(*) AS n FROM events WHERE name = 'stripe/refund-processed' AND data LIKE $1",
            &[&format!("%{}%", c.charge)],
        )
        .await;
    assert_eq!(processed, 1);
    let mut removed = None;
    for id in &refund_ids {
        for r in d.api.runs_of(id).await {
            if r["function_id"] == "handle-refund-remove-calendar" {
                removed = Some(r);
            }
        }
    }
    let removed = removed.expect("handle-refund-remove-calendar ran");
    assert_eq!(removed["status"], "completed", "{removed}");
    assert_eq!(
        (
            removed["output"]["outcome"].as_str(),
            removed["output"]["removed"].as_bool()
        ),
        (Some("success"), Some(true)),
        "{removed}"
    );
    // 5. The buyer is off the event; everyone else stays.
    assert_eq!(
        bed.google.attendees("gcal_demo_office_hours"),
        [HOST, "other@example.com"]
    );
    assert_eq!(bed.google.requests("PATCH").len(), 2, "one PATCH to add, one to remove");
}
