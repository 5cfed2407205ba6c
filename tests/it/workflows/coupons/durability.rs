//! Coupons and credits across a crash and replays: a kill -9 while Stripe holds its answer to the coupon creation
//! (one coupon, one credit after the restart), replays that change nothing, and the lifecycle from a signed Stripe
//! webhook: a PPP (Restricted) purchase gets its credit coupon and credit entitlement once, even when the
//! purchase is replayed.

use super::{DelayedCoupon, bed, coupon_posts, credits, daemon, for_purchase, stripe};
use crate::both;
use crate::support::Backend;
use crate::support::smtp_sink::SmtpSink;
use crate::workflows::harness::{Checkout, completed_event, emitted, env, post_webhook, until_received};
use ingot::platform::commerce::PurchaseStatus::*;
use ingot::seed::demo::{self, ids};
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

both!(kill9_while_stripe_creates_the_coupon, kill9_impl);
async fn kill9_impl(b: Backend) {
    let db = bed(b, &[("u_ppp", Restricted, 7_500)]).await;
    let s = stripe().await;
    // Stripe creates the coupon but its answer is still on the way when the daemon dies.
    Mock::given(method("POST"))
        .and(path("/v1/coupons"))
        .respond_with(DelayedCoupon(Duration::from_secs(30)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s)
        .await;
    let d = daemon(&db, &s);
    d.api.send(for_purchase("u_ppp", "Restricted", 7_500, None)).await;
    until_received(&s, 1).await;
    d.kill9();
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM merchant_coupons WHERE identifier = 'co_credit_7500'",
            &[]
        )
        .await,
        0
    );

    let d = daemon(&db, &s);
    d.api.drain().await;
    let runs = d.api.runs_of_function("grant-coupon-entitlements-for-purchase").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "completed", "{}", runs[0]);
    let posts = coupon_posts(&s).await;
    assert_eq!(posts.len(), 2, "asked again after the restart");
    assert!(
        posts.iter().all(|(k, _)| k == "special-credit-7500"),
        "with the same idempotency key: {posts:?}"
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM merchant_coupons WHERE identifier = 'co_credit_7500'",
            &[]
        )
        .await,
        1
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM coupons WHERE amount_discount_cents = 7500",
            &[]
        )
        .await,
        1
    );
    assert_eq!(credits(&db, "u_ppp").await.len(), 1);
    for step in runs[0]["steps"].as_array().unwrap() {
        assert_eq!(step["attempts"], 1, "completed steps never ran again: {step}");
    }

    // Replays: the same event id is a duplicate; a new id for the same purchase is the idempotency key's.
    let mut e = for_purchase("u_ppp", "Restricted", 7_500, None);
    e["id"] = json!("grant-1");
    d.api.send(e.clone()).await;
    let again = d.api.send(e).await;
    let mut fresh = for_purchase("u_ppp", "Restricted", 7_500, None);
    fresh["id"] = json!("grant-2");
    let other = d.api.send(fresh).await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(
        (ev["duplicate"].as_bool(), ev["run_ids"].clone()),
        (Some(true), json!([])),
        "{ev}"
    );
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", other[0])).await;
    assert_eq!(ev["skipped"][0]["reason"], "idempotency_key", "{ev}");
    assert_eq!(
        d.api
            .runs_of_function("grant-coupon-entitlements-for-purchase")
            .await
            .len(),
        1
    );
    assert_eq!(coupon_posts(&s).await.len(), 2);
    assert_eq!(credits(&db, "u_ppp").await.len(), 1);
}

both!(ppp_purchase_from_the_webhook_gets_one_credit, lifecycle_impl);
async fn lifecycle_impl(b: Backend) {
    let db = crate::support::TestDb::new(b).await;
    demo::load(&db.db).await.unwrap();
    let (s, sink) = (stripe().await, SmtpSink::start(None, None).await);
    let mut c = Checkout::new("cs_ppp", "ppp.buyer@example.com", "stripe_prod_demo_workshop", 6_000);
    c.discount_coupon = Some(ids::MERCHANT_COUPON_PPP.into());
    c.metadata = json!({"country": "IN"});
    Mock::given(method("GET"))
        .and(path(c.path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(c.session_json()))
        .mount(&s)
        .await;
    let d = crate::support::process::Daemon::start(&env(&db.url, &s.uri(), &sink.url()));
    let webhook = completed_event("evt_ppp", "cs_ppp", "payment", "paid");
    post_webhook(&d.api, &webhook).await;
    d.api.drain().await;

    let checkout = &d.api.runs_of_function("stripe-checkout-session-completed").await[0];
    let purchase = &checkout["output"]["purchase"];
    assert_eq!(purchase["status"], "Restricted", "{checkout}");
    let (purchase_id, user_id) = (purchase["id"].as_str().unwrap(), purchase["userId"].as_str().unwrap());
    let post = &d.api.runs_of_function("post-purchase-workflow").await[0];
    let sent = emitted(&db, &d.api, post, "grant coupon entitlements for purchase").await;
    assert_eq!(sent[0]["event"]["data"]["purchaseStatus"], "Restricted");
    let grant = d.api.only_run(sent[0]["id"].as_str().unwrap()).await;
    assert_eq!(grant["function_id"], "grant-coupon-entitlements-for-purchase");
    assert_eq!(grant["status"], "completed", "{grant}");
    let coupon = format!("coupon_credit_{}_6000", ids::PRODUCT_WORKSHOP);
    assert_eq!(grant["output"]["couponId"], coupon.as_str(), "{grant}");
    assert_eq!(credits(&db, user_id).await, std::slice::from_ref(&coupon));
    let posts = coupon_posts(&s).await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].0, "special-credit-6000");

    // The purchase replayed: the webhook again, purchase/created again (a new id), the grant event again.
    post_webhook(&d.api, &webhook).await;
    d.api
        .send(
            json!({"name": "purchase/created", "data": {"purchaseId": purchase_id, "checkoutSessionId": "cs_ppp",
                     "productType": "self-paced"}}),
        )
        .await;
    let mut replay = sent[0]["event"].clone();
    replay.as_object_mut().unwrap().remove("id");
    d.api
        .send(json!({"name": replay["name"], "data": replay["data"]}))
        .await;
    d.api.drain().await;
    assert_eq!(
        d.api
            .runs_of_function("grant-coupon-entitlements-for-purchase")
            .await
            .len(),
        1
    );
    assert_eq!(d.api.runs_of_function("post-purchase-workflow").await.len(), 1);
    assert_eq!(credits(&db, user_id).await, std::slice::from_ref(&coupon), "one credit");
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM coupons WHERE amount_discount_cents = 6000",
            &[]
        )
        .await,
        1
    );
    assert_eq!(coupon_posts(&s).await.len(), 1, "one Stripe coupon");
    assert_eq!(sink.received().len(), 1, "one welcome email");
}
