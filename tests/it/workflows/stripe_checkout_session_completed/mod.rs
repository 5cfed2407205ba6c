//! `stripe-checkout-session-completed` from the signed webhook to the purchase: individual, PPP (Restricted) and
//! bulk purchases; the `if` condition; Stripe failures (5xx, 429, malformed, incomplete sessions); kill -9 in the
//! middle of the Stripe call and after the purchase committed; replays of the event and of the session. This file
//! holds the shared setup; the tests are in `purchases.rs` (kinds of purchase, the `if`) and `failures.rs`.

mod failures;
mod purchases;

use super::harness::{Checkout, completed_event, emitted, env, post_webhook, step, step_ids, until_received};
use crate::support::process::Daemon;
use crate::support::{Backend, TestDb};
use ingot::seed::demo::{self, ids};
use serde_json::{Value, json};
use std::time::Duration;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(super) const ID: &str = "stripe-checkout-session-completed";
/// The functions started by each `purchase/created` fetch the session again, after this function's own fetches:
/// `post-purchase-workflow` (for the credit coupons used at checkout) and `shortlink-attribution` (for its
/// `shortlinkRef`); `send-post-purchase-slack` would too, but these tests configure no Slack.
pub(super) const POST_PURCHASE_FETCHES: usize = 2;
pub(super) const STEPS: [&str; 9] = [
    "load the merchant account",
    "get stripe checkout session",
    "parse checkout session",
    "load the user",
    "load the merchant product",
    "load the merchant customer",
    "load the product",
    "create a merchant charge and purchase",
    "send purchase created event",
];

pub(super) async fn setup(b: Backend) -> (TestDb, MockServer) {
    let db = TestDb::new(b).await;
    demo::load(&db.db).await.expect("demo data");
    (db, MockServer::start().await)
}

pub(super) fn start(db: &TestDb, stripe: &MockServer) -> Daemon {
    // No email is sent by this function: SMTP points nowhere.
    Daemon::start(&env(&db.url, &stripe.uri(), "smtp://127.0.0.1:9"))
}

pub(super) async fn serve(stripe: &MockServer, c: &Checkout) {
    Mock::given(method("GET"))
        .and(path(c.path()))
        .and(header("authorization", "Bearer sk_test_b"))
        .respond_with(ResponseTemplate::new(200).set_body_json(c.session_json()))
        .mount(stripe)
        .await;
}

/// Sends the webhook, drains, and returns the function's one run.
pub(super) async fn purchase(d: &Daemon, event_id: &str, session: &str) -> Value {
    let ids = post_webhook(&d.api, &completed_event(event_id, session, "payment", "paid")).await;
    d.api.drain().await;
    d.api.only_run(&ids[0]).await
}

pub(super) async fn n(db: &TestDb, sql: &str, params: &[&str]) -> i64 {
    db.count(sql, params).await
}

/// The emitted `purchase/created` event, checked against the purchase.
pub(super) async fn assert_announced(
    db: &TestDb,
    d: &Daemon,
    run: &Value,
    session: &str,
    product_type: &str,
    email: &str,
) {
    let purchase_id = run["output"]["purchase"]["id"].as_str().unwrap();
    let events = emitted(db, &d.api, run, "send purchase created event").await;
    assert_eq!(events.len(), 1);
    let e = &events[0]["event"];
    assert_eq!(e["name"], "purchase/created");
    assert_eq!(
        e["data"],
        json!({"purchaseId": purchase_id, "checkoutSessionId": session, "productType": product_type})
    );
    assert_eq!(e["user"]["email"], email);
    assert_eq!(e["id"], format!("purchase-created:{purchase_id}"));
}
