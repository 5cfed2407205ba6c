//! Individual, PPP (Restricted) and bulk purchases, and sessions the `if` condition keeps out.

use super::*;
use crate::both;

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
    for (evt, status) in [("evt_unpaid", "unpaid"), ("evt_free", "no_payment_required")] {
        let ids = post_webhook(&d.api, &completed_event(evt, &format!("cs_{evt}"), "payment", status)).await;
        d.api.drain().await;
        let ev = d.api.get_ok(&format!("/api/v1/events/{}", ids[0])).await;
        assert_eq!(ev["event"]["name"], "stripe/checkout-session-completed");
        assert_eq!(ev["run_ids"], json!([]), "payment/{status} must not start a run: {ev}");
    }
    assert!(
        stripe.received_requests().await.unwrap().is_empty(),
        "Stripe was never called"
    );
    // A subscription checkout belongs to stripe-subscription-checkout, never to this function.
    let ids = post_webhook(
        &d.api,
        &completed_event("evt_sub", "cs_evt_sub", "subscription", "paid"),
    )
    .await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", ids[0])).await;
    let runs = ev["run_ids"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 1, "{ev}");
    let run = d.api.run(runs[0].as_str().unwrap()).await;
    assert_eq!(run["function_id"], "stripe-subscription-checkout", "{run}");
    assert!(d.api.runs_of_function(ID).await.is_empty());
    assert_eq!(n(&db, "SELECT COUNT(*) AS n FROM merchant_charges", &[]).await, 0);
}
