//! `stripe-checkout-session-completed` from the signed webhook to the purchase: individual, PPP (Restricted) and
//! bulk purchases; the `if` condition; Stripe failures (5xx, 429, malformed, incomplete sessions); kill -9 in the
//! middle of the Stripe call and after the purchase committed; replays of the event and of the session.

use super::harness::{Checkout, completed_event, emitted, env, post_webhook, step, step_ids, until_received};
use crate::both;
use crate::support::process::Daemon;
use crate::support::{Backend, TestDb};
use ingot::seed::demo::{self, ids};
use serde_json::{Value, json};
use std::time::Duration;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ID: &str = "stripe-checkout-session-completed";
/// `post-purchase-workflow`, started by each `purchase/created`, fetches the session once more (for the credit
/// coupons used at checkout), after this function's own fetches.
const POST_PURCHASE_FETCHES: usize = 1;
const STEPS: [&str; 9] = [
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

async fn setup(b: Backend) -> (TestDb, MockServer) {
    let db = TestDb::new(b).await;
    demo::load(&db.db).await.expect("demo data");
    (db, MockServer::start().await)
}

fn start(db: &TestDb, stripe: &MockServer) -> Daemon {
    // No email is sent by this function: SMTP points nowhere.
    Daemon::start(&env(&db.url, &stripe.uri(), "smtp://127.0.0.1:9"))
}

async fn serve(stripe: &MockServer, c: &Checkout) {
    Mock::given(method("GET"))
        .and(path(c.path()))
        .and(header("authorization", "Bearer sk_test_b"))
        .respond_with(ResponseTemplate::new(200).set_body_json(c.session_json()))
        .mount(stripe)
        .await;
}

/// Sends the webhook, drains, and returns the function's one run.
async fn purchase(d: &Daemon, event_id: &str, session: &str) -> Value {
    let ids = post_webhook(&d.api, &completed_event(event_id, session, "payment", "paid")).await;
    d.api.drain().await;
    let runs = d.api.runs_of(&ids[0]).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.into_iter().next().unwrap()
}

async fn n(db: &TestDb, sql: &str, params: &[&str]) -> i64 {
    db.count(sql, params).await
}

/// The emitted `purchase/created` event, checked against the purchase.
async fn assert_announced(db: &TestDb, d: &Daemon, run: &Value, session: &str, product_type: &str, email: &str) {
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

both!(individual_purchase, individual_purchase_impl);
async fn individual_purchase_impl(b: Backend) {
    let (db, stripe) = setup(b).await;
    let c = Checkout::new("cs_ind", "new.buyer@example.com", "stripe_prod_demo_workshop", 19_900);
    serve(&stripe, &c).await;
    let d = start(&db, &stripe);
    let run = purchase(&d, "evt_ind", "cs_ind").await;
    assert_eq!(run["function_id"], ID);
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["idempotency_key"], "cs_ind");
    assert_eq!(step_ids(&run), STEPS);
    for s in run["steps"].as_array().unwrap() {
        assert_eq!(
            (s["status"].as_str(), s["attempts"].as_u64()),
            (Some("completed"), Some(1)),
            "{s}"
        );
    }
    let p = &run["output"]["purchase"];
    assert_eq!(p["status"], "Valid");
    assert_eq!(p["productId"], ids::PRODUCT_WORKSHOP);
    assert_eq!(p["totalAmountCents"], 19_900);
    assert_eq!(p["bulkCouponId"], Value::Null);
    let info = &run["output"]["purchaseInfo"];
    assert_eq!(info["purchaseType"], "NEW_INDIVIDUAL_PURCHASE");
    assert_eq!(info["email"], "new.buyer@example.com");
    assert_eq!(info["stripeChargeId"], "ch_cs_ind");
    // The exact Stripe call: the session with every expansion, authenticated.
    let reqs = stripe.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1 + POST_PURCHASE_FETCHES);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].url.path()),
        ("GET", "/v1/checkout/sessions/cs_ind")
    );
    let expands: Vec<String> = reqs[0]
        .url
        .query_pairs()
        .filter(|(k, _)| k == "expand[]")
        .map(|(_, v)| v.to_string())
        .collect();
    assert_eq!(expands, ingot::integrations::stripe::CHECKOUT_EXPAND);
    // The rows: a new user with a personal organization, customer, charge, session, purchase, transfer allowance.
    let user = "SELECT COUNT(*) AS n FROM users WHERE email = 'new.buyer@example.com' AND name = 'Buyer Name'";
    assert_eq!(n(&db, user, &[]).await, 1);
    let user_id = p["userId"].as_str().unwrap();
    let org = "SELECT COUNT(*) AS n FROM organization_memberships WHERE user_id = $1";
    assert_eq!(n(&db, org, &[user_id]).await, 1);
    let customer = "SELECT COUNT(*) AS n FROM merchant_customers WHERE identifier = 'cus_cs_ind' AND user_id = $1 \
                    AND merchant_account_id = $2";
    assert_eq!(n(&db, customer, &[user_id, ids::MERCHANT_ACCOUNT]).await, 1);
    let charge = "SELECT COUNT(*) AS n FROM merchant_charges WHERE identifier = 'ch_cs_ind' AND user_id = $1 \
                  AND merchant_product_id = 'mp_prod_demo_workshop'";
    assert_eq!(n(&db, charge, &[user_id]).await, 1);
    let session = "SELECT COUNT(*) AS n FROM merchant_sessions WHERE identifier = 'cs_ind'";
    assert_eq!(n(&db, session, &[]).await, 1);
    let purchases = "SELECT COUNT(*) AS n FROM purchases WHERE user_id = $1 AND status = 'Valid' \
                     AND total_amount_cents = 19900 AND merchant_charge_id IS NOT NULL AND merchant_session_id IS NOT NULL";
    assert_eq!(n(&db, purchases, &[user_id]).await, 1);
    let transfer = "SELECT COUNT(*) AS n FROM purchase_user_transfers WHERE source_user_id = $1";
    assert_eq!(n(&db, transfer, &[user_id]).await, 1);
    assert_announced(&db, &d, &run, "cs_ind", "self-paced", "new.buyer@example.com").await;
}

both!(ppp_purchase_is_restricted, ppp_impl);
async fn ppp_impl(b: Backend) {
    let (db, stripe) = setup(b).await;
    let mut c = Checkout::new("cs_ppp", "ppp@example.com", "stripe_prod_demo_workshop", 9_950);
    c.metadata = json!({"country": "IN", "appliedPPPStripeCouponId": ids::MERCHANT_COUPON_PPP});
    c.discount_coupon = Some(ids::MERCHANT_COUPON_PPP.into());
    serve(&stripe, &c).await;
    let d = start(&db, &stripe);
    let run = purchase(&d, "evt_ppp", "cs_ppp").await;
    assert_eq!(run["status"], "completed", "{run}");
    let p = &run["output"]["purchase"];
    assert_eq!(
        (p["status"].as_str(), p["country"].as_str()),
        (Some("Restricted"), Some("IN"))
    );
    assert_eq!(p["totalAmountCents"], 9_950);
    let restricted = "SELECT COUNT(*) AS n FROM purchases p JOIN users u ON u.id = p.user_id \
                      WHERE u.email = 'ppp@example.com' AND p.status = 'Restricted' AND p.country = 'IN'";
    assert_eq!(n(&db, restricted, &[]).await, 1);
    assert_announced(&db, &d, &run, "cs_ppp", "self-paced", "ppp@example.com").await;
}

both!(bulk_purchase_gets_its_coupon, bulk_impl);
async fn bulk_impl(b: Backend) {
    let (db, stripe) = setup(b).await;
    let mut c = Checkout::new("cs_team", "lead@example.com", "stripe_prod_demo_cohort", 250_000);
    c.quantity = 5;
    c.metadata = json!({"bulk": "true", "country": "US"});
    serve(&stripe, &c).await;
    let d = start(&db, &stripe);
    let run = purchase(&d, "evt_team", "cs_team").await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["purchaseInfo"]["purchaseType"], "NEW_BULK_COUPON");
    assert_eq!(run["output"]["purchaseInfo"]["quantity"], 5);
    let p = &run["output"]["purchase"];
    assert_eq!(p["status"], "Valid");
    let coupon = p["bulkCouponId"].as_str().expect("a bulk purchase has its coupon");
    let seats = "SELECT COUNT(*) AS n FROM coupons WHERE id = $1 AND max_uses = 5 AND status = 1 \
                 AND restricted_to_product_id = $2 AND percentage_discount = 1.0";
    assert_eq!(n(&db, seats, &[coupon, ids::PRODUCT_COHORT]).await, 1);
    assert_announced(&db, &d, &run, "cs_team", "cohort", "lead@example.com").await;

    // The same buyer buys three more seats: the existing coupon grows, no second coupon.
    let mut more = Checkout::new("cs_team_more", "lead@example.com", "stripe_prod_demo_cohort", 150_000);
    more.quantity = 3;
    serve(&stripe, &more).await;
    let run = purchase(&d, "evt_team_more", "cs_team_more").await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["purchaseInfo"]["purchaseType"], "EXISTING_BULK_COUPON");
    assert_eq!(run["output"]["purchase"]["bulkCouponId"], coupon);
    let grown = "SELECT COUNT(*) AS n FROM coupons WHERE id = $1 AND max_uses = 8";
    assert_eq!(n(&db, grown, &[coupon]).await, 1);
    let coupons = "SELECT COUNT(*) AS n FROM coupons WHERE restricted_to_product_id = $1";
    assert_eq!(
        n(&db, coupons, &[ids::PRODUCT_COHORT]).await,
        2,
        "the demo team coupon and this one"
    );
}

both!(unpaid_or_subscription_sessions_do_not_run, condition_impl);
async fn condition_impl(b: Backend) {
    let (db, stripe) = setup(b).await;
    let d = start(&db, &stripe);
    for (evt, mode, status) in [
        ("evt_unpaid", "payment", "unpaid"),
        ("evt_sub", "subscription", "paid"),
        ("evt_free", "payment", "no_payment_required"),
    ] {
        let ids = post_webhook(&d.api, &completed_event(evt, &format!("cs_{evt}"), mode, status)).await;
        d.api.drain().await;
        let ev = d.api.get_ok(&format!("/api/v1/events/{}", ids[0])).await;
        assert_eq!(ev["event"]["name"], "stripe/checkout-session-completed");
        assert_eq!(ev["run_ids"], json!([]), "{mode}/{status} must not start a run: {ev}");
    }
    assert!(d.api.runs_of_function(ID).await.is_empty());
    assert!(
        stripe.received_requests().await.unwrap().is_empty(),
        "Stripe was never called"
    );
    assert_eq!(n(&db, "SELECT COUNT(*) AS n FROM merchant_charges", &[]).await, 0);
}

both!(stripe_errors_are_retried, retried_impl);
async fn retried_impl(b: Backend) {
    let (db, stripe) = setup(b).await;
    let c = Checkout::new("cs_flaky", "flaky@example.com", "stripe_prod_demo_workshop", 19_900);
    let api_error = |m: &str| json!({"error": {"message": m, "type": "api_error"}});
    Mock::given(path(c.path()))
        .respond_with(ResponseTemplate::new(500).set_body_json(api_error("internal")))
        .up_to_n_times(1)
        .mount(&stripe)
        .await;
    Mock::given(path(c.path()))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(api_error("Too many requests")),
        )
        .up_to_n_times(1)
        .mount(&stripe)
        .await;
    serve(&stripe, &c).await;
    let d = start(&db, &stripe);
    let run = purchase(&d, "evt_flaky", "cs_flaky").await;
    assert_eq!(run["status"], "completed", "{run}");
    let s = step(&run, "get stripe checkout session");
    assert_eq!(s["attempts"], 3, "{s}");
    let statuses: Vec<&str> = s["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["errored", "errored", "completed"]);
    assert!(
        s["history"][0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unavailable"),
        "{s}"
    );
    assert!(
        s["history"][1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rate limited"),
        "{s}"
    );
    assert_eq!(
        stripe.received_requests().await.unwrap().len(),
        3 + POST_PURCHASE_FETCHES
    );
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) AS n FROM merchant_charges WHERE identifier = 'ch_cs_flaky'",
            &[]
        )
        .await,
        1
    );
}

both!(malformed_or_incomplete_sessions_fail, malformed_impl);
async fn malformed_impl(b: Backend) {
    let (db, stripe) = setup(b).await;
    // A truncated answer every time: retried (3 retries), then the run fails.
    Mock::given(path("/v1/checkout/sessions/cs_garbled"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"id\": \"cs_garb"))
        .mount(&stripe)
        .await;
    // A well-formed session that was never charged: non-retriable at parsing.
    let c = Checkout::new(
        "cs_nocharge",
        "nocharge@example.com",
        "stripe_prod_demo_workshop",
        19_900,
    );
    let mut body = c.session_json();
    body["payment_intent"] = Value::Null;
    Mock::given(path(c.path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&stripe)
        .await;
    // A product we do not sell: non-retriable at the merchant product.
    let unknown = Checkout::new("cs_unknown", "unknown@example.com", "prod_not_ours", 100);
    serve(&stripe, &unknown).await;
    let d = start(&db, &stripe);

    let run = purchase(&d, "evt_garbled", "cs_garbled").await;
    assert_eq!(run["status"], "failed", "{run}");
    let s = step(&run, "get stripe checkout session");
    assert_eq!(s["attempts"], 4, "{s}");
    assert!(
        s["error"]["message"].as_str().unwrap().contains("unexpected answer"),
        "{s}"
    );

    let run = purchase(&d, "evt_nocharge", "cs_nocharge").await;
    assert_eq!(run["status"], "failed", "{run}");
    let s = step(&run, "parse checkout session");
    assert_eq!(
        (s["attempts"].as_u64(), s["error"]["name"].as_str()),
        (Some(1), Some("NonRetriableError"))
    );
    assert!(s["error"]["message"].as_str().unwrap().contains("has no charge"), "{s}");
    assert_eq!(step_ids(&run).len(), 3, "nothing after the failed step");

    let run = purchase(&d, "evt_unknown", "cs_unknown").await;
    assert_eq!(run["status"], "failed", "{run}");
    let s = step(&run, "load the merchant product");
    assert_eq!(
        (s["attempts"].as_u64(), s["error"]["name"].as_str()),
        (Some(1), Some("NonRetriableError"))
    );
    assert!(s["error"]["message"].as_str().unwrap().contains("prod_not_ours"), "{s}");

    assert_eq!(n(&db, "SELECT COUNT(*) AS n FROM merchant_charges", &[]).await, 0);
    let new_purchases = "SELECT COUNT(*) AS n FROM purchases WHERE merchant_charge_id IS NOT NULL";
    assert_eq!(n(&db, new_purchases, &[]).await, 0);
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) AS n FROM events WHERE name = 'purchase/created'",
            &[]
        )
        .await,
        0
    );
}

both!(kill9_during_the_stripe_call_then_restart, kill9_impl);
async fn kill9_impl(b: Backend) {
    let (db, stripe) = setup(b).await;
    let c = Checkout::new("cs_crash", "crash@example.com", "stripe_prod_demo_workshop", 19_900);
    // The first call hangs (the daemon dies waiting); the calls after the restart are answered.
    Mock::given(path(c.path()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(c.session_json())
                .set_delay(Duration::from_secs(600)),
        )
        .up_to_n_times(1)
        .mount(&stripe)
        .await;
    serve(&stripe, &c).await;
    let d = start(&db, &stripe);
    let ids = post_webhook(&d.api, &completed_event("evt_crash", "cs_crash", "payment", "paid")).await;
    until_received(&stripe, 1).await;
    d.kill9();
    assert_eq!(
        n(&db, "SELECT COUNT(*) AS n FROM runs WHERE status = 'running'", &[]).await,
        1
    );

    let d = start(&db, &stripe);
    d.api.drain().await;
    let runs = d.api.runs_of(&ids[0]).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "completed", "{}", runs[0]);
    assert_eq!(step_ids(&runs[0]), STEPS);
    assert_eq!(
        stripe.received_requests().await.unwrap().len(),
        2 + POST_PURCHASE_FETCHES,
        "the session was fetched again"
    );
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) AS n FROM merchant_charges WHERE identifier = 'ch_cs_crash'",
            &[]
        )
        .await,
        1
    );
    let purchases =
        "SELECT COUNT(*) AS n FROM purchases p JOIN users u ON u.id = p.user_id WHERE u.email = 'crash@example.com'";
    assert_eq!(n(&db, purchases, &[]).await, 1);
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) AS n FROM events WHERE name = 'purchase/created'",
            &[]
        )
        .await,
        1
    );
}

both!(purchase_committed_before_a_crash_is_not_duplicated, committed_impl);
async fn committed_impl(b: Backend) {
    let (db, stripe) = setup(b).await;
    let c = Checkout::new("cs_twice", "twice@example.com", "stripe_prod_demo_workshop", 19_900);
    serve(&stripe, &c).await;
    // What a run that died right after "create a merchant charge and purchase" committed leaves behind.
    use ingot::platform::commerce::{checkout, merchants};
    let (user, _) = ingot::platform::users::find_or_create_user(&db.db, "twice@example.com", None)
        .await
        .unwrap();
    let (customer, _) =
        merchants::find_or_create_merchant_customer(&db.db, ids::MERCHANT_ACCOUNT, &user.id, "cus_cs_twice")
            .await
            .unwrap();
    let first = checkout::create_merchant_charge_and_purchase(
        &db.db,
        &checkout::ChargeAndPurchase {
            user_id: user.id.clone(),
            product_id: ids::PRODUCT_WORKSHOP.into(),
            merchant_account_id: ids::MERCHANT_ACCOUNT.into(),
            merchant_product_id: "mp_prod_demo_workshop".into(),
            merchant_customer_id: customer.id,
            session: checkout::ParsedCheckoutSession {
                checkout_session_id: "cs_twice".into(),
                stripe_charge_id: "ch_cs_twice".into(),
                stripe_charge_amount_cents: 19_900,
                quantity: 1,
                ..Default::default()
            },
        },
    )
    .await
    .unwrap();
    let d = start(&db, &stripe);
    let run = purchase(&d, "evt_twice", "cs_twice").await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        run["output"]["purchase"]["id"], first.purchase.id,
        "the committed purchase, not a second one"
    );
    let purchases = "SELECT COUNT(*) AS n FROM purchases WHERE user_id = $1";
    assert_eq!(n(&db, purchases, &[&user.id]).await, 1);
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) AS n FROM merchant_charges WHERE identifier = 'ch_cs_twice'",
            &[]
        )
        .await,
        1
    );
    // It is still announced: the crashed run never got that far.
    assert_announced(&db, &d, &run, "cs_twice", "self-paced", "twice@example.com").await;
}

both!(replays_do_nothing, replay_impl);
async fn replay_impl(b: Backend) {
    let (db, stripe) = setup(b).await;
    let c = Checkout::new("cs_replay", "replay@example.com", "stripe_prod_demo_workshop", 19_900);
    serve(&stripe, &c).await;
    let d = start(&db, &stripe);
    let run = purchase(&d, "evt_replay", "cs_replay").await;
    assert_eq!(run["status"], "completed", "{run}");
    // Stripe re-delivers the same event: a duplicate, no run.
    let again = post_webhook(&d.api, &completed_event("evt_replay", "cs_replay", "payment", "paid")).await;
    // Another event for the same session: the idempotency key skips it.
    let other = post_webhook(&d.api, &completed_event("evt_replay_2", "cs_replay", "payment", "paid")).await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(
        (ev["duplicate"].as_bool(), ev["run_ids"].clone()),
        (Some(true), json!([])),
        "{ev}"
    );
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", other[0])).await;
    assert_eq!(ev["run_ids"], json!([]), "{ev}");
    assert_eq!(ev["skipped"][0]["reason"], "idempotency_key", "{ev}");
    assert_eq!(ev["skipped"][0]["existing_run_id"], run["id"], "{ev}");
    assert_eq!(d.api.runs_of_function(ID).await.len(), 1);
    assert_eq!(
        stripe.received_requests().await.unwrap().len(),
        1 + POST_PURCHASE_FETCHES
    );
    let purchases =
        "SELECT COUNT(*) AS n FROM purchases p JOIN users u ON u.id = p.user_id WHERE u.email = 'replay@example.com'";
    assert_eq!(n(&db, purchases, &[]).await, 1);
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) AS n FROM events WHERE name = 'purchase/created'",
            &[]
        )
        .await,
        1
    );
}
