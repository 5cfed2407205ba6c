//! `grant-coupon-entitlements-for-purchase`: every branch, with Stripe answering 429 (Retry-After) and 500 before
//! creating a PPP credit coupon.

use super::{bed, coupon_posts, credit_form, credits, daemon, for_purchase, one, stripe};
use crate::both;
use crate::support::Backend;
use crate::workflows::harness::step_names;
use ingot::platform::commerce::PurchaseStatus::*;
use ingot::seed::demo::ids;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const ID: &str = "grant-coupon-entitlements-for-purchase";

both!(ppp_purchase_creates_its_credit_coupon, ppp_impl);
async fn ppp_impl(b: Backend) {
    let db = bed(b, &[("u_ppp", Restricted, 7_500), ("u_match", Restricted, 9_950)]).await;
    let s = stripe().await;
    // Stripe first asks us to slow down, then fails, then creates the coupon.
    Mock::given(method("POST"))
        .and(path("/v1/coupons"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"error": {"type": "rate_limit_error", "message": "Too many requests"}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/coupons"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"error": {"type": "api_error", "message": "Something went wrong"}})),
        )
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&s)
        .await;
    let d = daemon(&db, &s);

    let run = one(&d.api, for_purchase("u_ppp", "Restricted", 7_500, None)).await;
    assert_eq!(run["function_id"], ID);
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["idempotency_key"], "purch_u_ppp");
    let coupon = format!("coupon_credit_{}_7500", ids::PRODUCT_WORKSHOP);
    let out = &run["output"];
    assert_eq!(
        (
            out["checked"].as_bool(),
            out["amountCents"].as_i64(),
            out["couponId"].as_str(),
            out["granted"].as_bool()
        ),
        (Some(true), Some(7_500), Some(coupon.as_str()), Some(true)),
        "{run}"
    );
    assert_eq!(
        step_names(&run),
        [
            "check purchase eligibility for coupon entitlements",
            "calculate coupon amount in cents",
            "find coupons for product",
            "get coupon credit entitlement type",
            "get user",
            "check existing entitlement for product",
            "find or create merchant coupon for restricted",
            "grant entitlement for restricted purchase",
        ]
    );
    let create = &run["steps"][6];
    assert_eq!(create["attempts"], 3, "429, 500, then created: {create}");
    let posts = coupon_posts(&s).await;
    assert_eq!(posts.len(), 3);
    for (key, form) in &posts {
        assert_eq!(key, "special-credit-7500", "one idempotency key for every try");
        assert_eq!(form, &credit_form(7_500, "special credit $75.00"));
    }
    let mc = "SELECT COUNT(*) AS n FROM merchant_coupons WHERE identifier = 'co_credit_7500' \
              AND type = 'special credit' AND amount_discount_cents = 7500";
    assert_eq!(db.count(mc, &[]).await, 1);
    let c = "SELECT COUNT(*) AS n FROM coupons WHERE id = $1 AND amount_discount_cents = 7500 \
             AND eligibility_product_id = $2 AND eligibility_condition_type = 'hasValidProductPurchase'";
    assert_eq!(db.count(c, &[&coupon, ids::PRODUCT_WORKSHOP]).await, 1);
    assert_eq!(credits(&db, "u_ppp").await, std::slice::from_ref(&coupon));
    let learner = "SELECT COUNT(*) AS n FROM organization_membership_roles r JOIN roles ON roles.id = r.role_id \
                   JOIN organization_memberships m ON m.id = r.organization_membership_id \
                   WHERE m.user_id = $1 AND roles.name = 'learner'";
    assert_eq!(db.count(learner, &["u_ppp"]).await, 1);

    // A PPP amount an existing credit coupon already has: that coupon, no Stripe call.
    let run = one(&d.api, for_purchase("u_match", "Restricted", 9_950, None)).await;
    assert_eq!(run["output"]["couponId"], ids::CREDIT_COUPON_PPP, "{run}");
    assert_eq!(credits(&db, "u_match").await, [ids::CREDIT_COUPON_PPP]);
    assert_eq!(coupon_posts(&s).await.len(), 3);
}

both!(valid_purchases_and_early_returns, branches_impl);
async fn branches_impl(b: Backend) {
    let db = bed(
        b,
        &[
            ("u_valid", Valid, 19_900),
            ("u_again", Valid, 19_900),
            ("u_gone", Valid, 19_900),
        ],
    )
    .await;
    let s = stripe().await;
    let d = daemon(&db, &s);

    // Valid: the coupon of exactly the product's price.
    let run = one(&d.api, for_purchase("u_valid", "Valid", 19_900, None)).await;
    assert_eq!(
        (
            run["output"]["couponId"].as_str(),
            run["output"]["amountCents"].as_i64()
        ),
        (Some(ids::CREDIT_COUPON_WORKSHOP), Some(19_900)),
        "{run}"
    );
    assert_eq!(
        step_names(&run)[6..],
        [
            "find matching coupon for valid purchase",
            "grant entitlement for valid purchase"
        ]
    );
    assert_eq!(credits(&db, "u_valid").await, [ids::CREDIT_COUPON_WORKSHOP]);

    // Already holds a credit for the product (Bob, from the demo): skipped.
    let mut e = for_purchase("u_again", "Valid", 19_900, None);
    e["data"]["userId"] = json!(ids::BOB);
    let run = one(&d.api, e).await;
    assert_eq!(run["output"]["skipped"], true, "{run}");
    assert!(
        run["output"]["existingEntitlementId"]
            .as_str()
            .unwrap()
            .starts_with(ids::CREDIT_COUPON_PPP)
    );

    // The user is gone.
    let mut e = for_purchase("u_gone", "Valid", 19_900, None);
    e["data"]["userId"] = json!("u_nobody");
    let run = one(&d.api, e).await;
    assert_eq!(run["output"]["error"], "User not found: u_nobody", "{run}");

    // Not eligible.
    for (user, status, cents, bulk, reason) in [
        (
            "e1",
            "Refunded",
            19_900,
            None,
            "Purchase status is not Valid or Restricted",
        ),
        ("e2", "Valid", 0, None, "Purchase amount is zero"),
        (
            "e3",
            "Valid",
            19_900,
            Some("coupon_team"),
            "Team purchases do not earn credits",
        ),
    ] {
        let run = one(&d.api, for_purchase(user, status, cents, bulk)).await;
        assert_eq!(run["status"], "completed");
        assert_eq!(run["output"]["reason"], reason, "{run}");
        assert_eq!(step_names(&run).len(), 1);
    }

    // A product no credit coupon names.
    let mut e = for_purchase("c1", "Valid", 50_000, None);
    e["data"]["productId"] = json!(ids::PRODUCT_COHORT);
    let run = one(&d.api, e).await;
    assert_eq!(run["output"]["matchingCoupons"], 0, "{run}");

    // A valid purchase whose price no coupon matches: nothing granted, nothing created.
    db.exec(
        "UPDATE prices SET unit_amount_cents = 25000 WHERE product_id = $1",
        &[ids::PRODUCT_WORKSHOP],
    )
    .await;
    let mut e = for_purchase("v2", "Valid", 25_000, None);
    e["data"]["userId"] = json!("u_again");
    let run = one(&d.api, e).await;
    assert_eq!(
        (run["output"]["granted"].as_bool(), run["output"]["couponId"].clone()),
        (Some(false), json!(null))
    );
    // No price at all.
    db.exec(
        "UPDATE prices SET status = 0 WHERE product_id = $1",
        &[ids::PRODUCT_WORKSHOP],
    )
    .await;
    let mut e = for_purchase("v3", "Valid", 25_000, None);
    e["data"]["userId"] = json!("u_again");
    let run = one(&d.api, e).await;
    assert_eq!(run["output"]["error"], "No product price found", "{run}");
    assert!(credits(&db, "u_again").await.is_empty());
    assert!(
        coupon_posts(&s).await.is_empty(),
        "Valid purchases never create coupons"
    );
}
