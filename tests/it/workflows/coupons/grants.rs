//! `grant-coupon-entitlements` (a new credit coupon reaches every existing Valid buyer) and
//! `create-ppp-credit-coupons` (every PPP buyer gets a credit coupon of what they paid, granted in parallel steps).

use super::{bed, coupon_posts, credit_form, credits, daemon, one, stripe};
use crate::both;
use crate::support::Backend;
use crate::workflows::harness::step_names;
use ingot::platform::commerce::PurchaseStatus::*;
use ingot::platform::commerce::coupons::{self, NewCoupon};
use ingot::seed::demo::ids;
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, ResponseTemplate};

both!(grants_a_new_credit_coupon_to_valid_buyers, grant_impl);
async fn grant_impl(b: Backend) {
    let db = bed(
        b,
        &[
            ("u_a", Valid, 19_900),
            ("u_b", Valid, 19_900),
            ("u_noemail", Valid, 19_900),
            ("u_r", Restricted, 9_950),
        ],
    )
    .await;
    // u_a bought twice; u_noemail lost their email (no personal organization can be named).
    ingot::seed::builders::purchase(&db.db, "purch_u_a_2", "u_a", ids::PRODUCT_WORKSHOP, Valid, 19_900)
        .await
        .unwrap();
    db.exec("UPDATE users SET email = '' WHERE id = 'u_noemail'", &[]).await;
    let fields =
        json!({"eligibilityCondition": {"type": "hasValidProductPurchase", "productId": ids::PRODUCT_WORKSHOP}});
    coupons::ensure_coupon(
        &db.db,
        &NewCoupon {
            id: "coupon_new_credit".into(),
            fields,
            max_uses: -1,
            amount_discount_cents: Some(5_000),
            ..NewCoupon::default()
        },
    )
    .await
    .unwrap();
    // u_b already holds a credit from it.
    let ub = ingot::platform::users::get_user(&db.db, "u_b").await.unwrap().unwrap();
    ingot::platform::entitlements::ensure_credit_entitlement(
        &db.db,
        &ub.id,
        None,
        None,
        "coupon_new_credit",
        ids::PRODUCT_WORKSHOP,
    )
    .await
    .unwrap();
    let d = daemon(&db, &stripe().await);

    let run = one(
        &d.api,
        json!({"name": "coupon/grant-entitlements", "data": {"couponId": "coupon_new_credit"}}),
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["idempotency_key"], "coupon_new_credit");
    assert_eq!(
        run["output"],
        json!({"granted": 1, "skipped": 1, "failed": 1, "eligibleUsers": 3, "summary": {
            "couponId": "coupon_new_credit", "productId": ids::PRODUCT_WORKSHOP, "grantedUserIds": ["u_a"],
            "skippedUserIds": ["u_b"], "failedUserIds": ["u_noemail"]}})
    );
    assert_eq!(
        step_names(&run),
        [
            "get coupon",
            "check eligibility condition",
            "get coupon credit entitlement type",
            "find eligible purchases",
            "get unique user ids",
            "grant entitlements to eligible users",
        ]
    );
    assert_eq!(credits(&db, "u_a").await, ["coupon_new_credit"]);
    assert_eq!(credits(&db, "u_b").await, ["coupon_new_credit"], "not a second one");
    assert!(
        credits(&db, "u_r").await.is_empty(),
        "Restricted buyers are not eligible"
    );

    // No eligibility condition (the demo team coupon), and no eligible purchase (a cohort credit).
    let run = one(
        &d.api,
        json!({"name": "coupon/grant-entitlements", "data": {"couponId": ids::TEAM_COUPON}}),
    )
    .await;
    assert_eq!(
        (run["output"]["skipped"].as_bool(), run["output"]["granted"].as_i64()),
        (Some(true), Some(0)),
        "{run}"
    );
    let cohort = json!({"eligibilityCondition": {"type": "hasValidProductPurchase", "productId": "prod_nobody"}});
    coupons::ensure_coupon(
        &db.db,
        &NewCoupon {
            id: "coupon_nobody".into(),
            fields: cohort,
            max_uses: -1,
            ..NewCoupon::default()
        },
    )
    .await
    .unwrap();
    let run = one(
        &d.api,
        json!({"name": "coupon/grant-entitlements", "data": {"couponId": "coupon_nobody"}}),
    )
    .await;
    assert_eq!(
        run["output"],
        json!({"granted": 0, "eligibleUsers": 0, "reason": "No eligible purchases"})
    );

    // A coupon that does not exist: retried (it may not be committed yet), then failed.
    let run = one(
        &d.api,
        json!({"name": "coupon/grant-entitlements", "data": {"couponId": "coupon_missing"}}),
    )
    .await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["steps"][0]["attempts"], 4, "retried 3 times: {run}");
}

both!(ppp_buyers_get_credit_coupons_in_parallel_steps, ppp_impl);
async fn ppp_impl(b: Backend) {
    let db = bed(
        b,
        &[
            ("u_p1", Restricted, 9_950),
            ("u_p2", Restricted, 5_000),
            ("u_p3", Restricted, 4_000),
            ("u_v", Valid, 19_900),
            ("u_pn", Restricted, 5_000),
        ],
    )
    .await;
    db.exec("UPDATE users SET email = '' WHERE id = 'u_pn'", &[]).await;
    let s = stripe().await;
    // Stripe refuses the 40.00 coupon (a 4xx is not retried): its buyer gets nothing.
    Mock::given(method("POST"))
        .and(path("/v1/coupons"))
        .and(body_string_contains("amount_off=4000"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": {"type": "invalid_request_error", "message": "Invalid amount_off"}})),
        )
        .with_priority(1)
        .mount(&s)
        .await;
    let d = daemon(&db, &s);
    // The original event name.
    let event = json!({"name": "coupon/create-ppp-credit-for-purchasers",
                       "data": {"productId": ids::PRODUCT_WORKSHOP, "restrictedToProductId": ids::PRODUCT_COHORT}});
    let run = one(&d.api, event).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["function_id"], "create-ppp-credit-coupons");
    let c = |cents: i64| format!("coupon_ppp_{}_{}_{cents}", ids::PRODUCT_WORKSHOP, ids::PRODUCT_COHORT);
    let out = &run["output"];
    assert_eq!(
        (out["created"].as_i64(), out["skipped"].as_i64(), out["failed"].as_i64()),
        (Some(3), Some(0), Some(1)),
        "{run}"
    );
    assert_eq!(out["grantedUserIds"], json!([ids::BOB, "u_p1", "u_p2"]));
    assert_eq!(
        out["failedUserIds"],
        json!(["u_pn"]),
        "no email: no personal organization"
    );
    assert_eq!(out["summary"]["coupons"], json!({"5000": c(5_000), "9950": c(9_950)}));
    assert!(
        out["summary"]["refusedAmounts"]["4000"]
            .as_str()
            .unwrap()
            .contains("Invalid amount_off"),
        "{run}"
    );
    assert_eq!(
        step_names(&run),
        [
            "find restricted purchases",
            "get coupon credit entitlement type",
            "group purchases by amount",
            "create merchant coupons for each amount",
            "create coupons for each unique amount",
            "prepare coupon data for entitlements",
            &format!("grant entitlement to user {}", ids::BOB),
            "grant entitlement to user u_p1",
            "grant entitlement to user u_p2",
            "grant entitlement to user u_pn",
            "aggregate entitlement results",
        ]
    );
    let mut posts = coupon_posts(&s).await;
    posts.sort();
    assert_eq!(
        posts,
        [
            (
                "special-credit-4000".to_string(),
                credit_form(4_000, "special credit $40.00")
            ),
            (
                "special-credit-5000".to_string(),
                credit_form(5_000, "special credit $50.00")
            ),
            (
                "special-credit-9950".to_string(),
                credit_form(9_950, "special credit $99.50")
            ),
        ]
    );
    let restricted = "SELECT COUNT(*) AS n FROM coupons WHERE id = $1 AND restricted_to_product_id = $2 \
                      AND eligibility_product_id = $3";
    assert_eq!(
        db.count(restricted, &[&c(9_950), ids::PRODUCT_COHORT, ids::PRODUCT_WORKSHOP])
            .await,
        1
    );
    assert_eq!(credits(&db, "u_p1").await, [c(9_950)]);
    assert_eq!(credits(&db, "u_p2").await, [c(5_000)]);
    assert!(credits(&db, "u_p3").await.is_empty());
    assert!(credits(&db, "u_v").await.is_empty());
    assert_eq!(
        credits(&db, ids::BOB).await,
        [ids::CREDIT_COUPON_PPP.to_string(), c(9_950)]
    );

    // No restricted purchase of a product.
    let run = one(
        &d.api,
        json!({"name": "coupon/create-ppp-credit", "data": {"productId": ids::PRODUCT_COHORT}}),
    )
    .await;
    assert_eq!(run["output"]["skipped"], true, "{run}");
    assert_eq!(run["output"]["created"], 0);
}
