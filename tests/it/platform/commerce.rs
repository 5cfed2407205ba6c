//! Products, purchases, coupons, merchants, checkout and refunds.

use super::rows;
use crate::both;
use crate::support::{Backend, TestDb};
use ingot::platform::commerce::PurchaseStatus::*;
use ingot::platform::commerce::product_types::{ProductType, gather_resource_contexts};
use ingot::platform::commerce::{coupons, merchants, products, purchases};
use ingot::platform::{Error, organizations};
use ingot::seed::builders;
use ingot::seed::demo::{self, ids};
use serde_json::json;

both!(gets_products_with_price_and_resources, products_impl);
async fn products_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    let p = products::get_product(db, ids::PRODUCT_COHORT).await.unwrap().unwrap();
    assert_eq!(
        (p.product.kind.as_str(), p.product.discord_role_id()),
        ("cohort", Some(ids::DISCORD_COHORT_ROLE))
    );
    assert_eq!(p.price.as_ref().map(|x| x.unit_amount_cents), Some(50_000));
    let res: Vec<&str> = p.resources.iter().map(|r| r.resource.id.as_str()).collect();
    assert_eq!(res, [ids::COHORT]);
    let by_slug = products::get_product(db, "ai-engineering-cohort")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_slug, p);
    assert_eq!(products::get_product(db, "nope").await.unwrap(), None);
    assert_eq!(
        products::get_product(db, "ai-engineering").await.unwrap(),
        None,
        "slugs match exactly"
    );
    assert_eq!(products::get_price_for_product(db, "nope").await.unwrap(), None);
    let cohorts: Vec<String> = products::cohort_products(db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.product.id)
        .collect();
    assert_eq!(cohorts, [ids::PRODUCT_COHORT]);
}

both!(gathers_resource_contexts, contexts_impl);
async fn contexts_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    let cohort = products::get_product(db, ids::PRODUCT_COHORT).await.unwrap().unwrap();
    let ctx = gather_resource_contexts(db, &cohort, ProductType::Cohort)
        .await
        .unwrap();
    assert_eq!(ctx.len(), 1);
    assert_eq!(
        (ctx[0].resource_id.as_str(), ctx[0].product_type),
        (ids::COHORT, ProductType::Cohort)
    );
    assert_eq!(
        ctx[0].product_for_resource.as_ref().map(|p| p.id.as_str()),
        Some(ids::PRODUCT_COHORT)
    );
    assert_eq!(ctx[0].day_one_starts_at.as_deref(), Some("2026-12-01T17:00:00.000Z"));

    // A bundle selling the cohort and the self-paced workshop (each also sold on its own) and an event.
    builders::product(
        db,
        "bundle",
        "cohort",
        "Bundle",
        1,
        json!({}),
        &[ids::SELF_PACED_WORKSHOP, ids::COHORT, ids::EVENT],
    )
    .await
    .unwrap();
    let bundle = products::get_product(db, "bundle").await.unwrap().unwrap();
    let ctx = gather_resource_contexts(db, &bundle, ProductType::Cohort)
        .await
        .unwrap();
    let got: Vec<(&str, ProductType)> = ctx.iter().map(|c| (c.resource_id.as_str(), c.product_type)).collect();
    assert_eq!(
        got,
        [
            (ids::SELF_PACED_WORKSHOP, ProductType::SelfPaced),
            (ids::COHORT, ProductType::Cohort)
        ]
    );
    assert_eq!(
        ctx[0].product_for_resource.as_ref().map(|p| p.id.as_str()),
        Some(ids::PRODUCT_WORKSHOP)
    );
    assert_eq!(ctx[0].day_one_starts_at, None);
    let live = products::get_product(db, ids::PRODUCT_EVENT).await.unwrap().unwrap();
    assert!(
        gather_resource_contexts(db, &live, ProductType::SelfPaced)
            .await
            .unwrap()
            .is_empty()
    );
}

both!(gets_purchases_and_sets_status, purchases_impl);
async fn purchases_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    for (id, status) in [
        (ids::PURCHASE_ALICE_COHORT, Valid),
        (ids::PURCHASE_BOB_WORKSHOP, Restricted),
        (ids::PURCHASE_ERIN_REFUNDED, Refunded),
        (ids::PURCHASE_FRANK_DISPUTED, Disputed),
        (ids::PURCHASE_GRACE_BANNED, Banned),
    ] {
        assert_eq!(purchases::get_purchase(db, id).await.unwrap().unwrap().status, status);
    }
    assert_eq!(purchases::get_purchase(db, "nope").await.unwrap(), None);
    assert!(
        purchases::require_purchase(db, "nope")
            .await
            .unwrap_err()
            .is_not_found()
    );

    let p = purchases::set_purchase_status(db, ids::PURCHASE_ALICE_EVENT, Disputed)
        .await
        .unwrap();
    assert_eq!(p.status, Disputed);
    assert_eq!(
        purchases::set_purchase_status(db, ids::PURCHASE_ALICE_EVENT, Disputed)
            .await
            .unwrap(),
        p
    );
    assert!(
        purchases::set_purchase_status(db, "nope", Valid)
            .await
            .unwrap_err()
            .is_not_found()
    );
    let moved = purchases::move_purchase_to_organization(db, ids::PURCHASE_ALICE_EVENT, ids::TEAM_ORG)
        .await
        .unwrap();
    assert_eq!(moved.organization_id.as_deref(), Some(ids::TEAM_ORG));

    let paid = purchases::paid_individual_purchases(db, ids::PRODUCT_WORKSHOP, &[Valid, Restricted])
        .await
        .unwrap();
    let paid: Vec<&str> = paid.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(paid, [ids::PURCHASE_BOB_WORKSHOP]);
    let team = purchases::paid_individual_purchases(db, ids::PRODUCT_COHORT, &[Valid])
        .await
        .unwrap();
    assert_eq!(
        team.len(),
        1,
        "bulk and zero-total purchases are not individual paid purchases"
    );
    let of_user = purchases::user_purchases_of_product(db, ids::ALICE, ids::PRODUCT_COHORT, &[Valid])
        .await
        .unwrap();
    assert_eq!(of_user.len(), 1);
}

both!(gets_coupons_with_bulk_purchases, coupons_impl);
async fn coupons_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    let c = coupons::get_coupon_with_bulk_purchases(db, ids::TEAM_COUPON)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.coupon.max_uses, 5);
    assert_eq!(
        c.original_bulk_purchase().map(|p| p.id.as_str()),
        Some(ids::PURCHASE_CAROL_TEAM)
    );
    let seats: Vec<&str> = c.redeemed_purchases.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(seats, [ids::PURCHASE_DAVE_SEAT]);
    assert_eq!(coupons::get_coupon_with_bulk_purchases(db, "nope").await.unwrap(), None);

    let credits = coupons::special_credit_coupons_for_product(db, ids::PRODUCT_WORKSHOP)
        .await
        .unwrap();
    let credits: Vec<(&str, Option<i64>)> = credits
        .iter()
        .map(|c| (c.id.as_str(), c.amount_discount_cents))
        .collect();
    assert_eq!(credits.len(), 2);
    assert!(credits.contains(&(ids::CREDIT_COUPON_PPP, Some(9_950))));
    assert!(
        coupons::special_credit_coupons_for_product(db, ids::PRODUCT_COHORT)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(coupons::revoke_coupon(db, ids::CREDIT_COUPON_PPP).await.unwrap());
    assert!(!coupons::revoke_coupon(db, ids::CREDIT_COUPON_PPP).await.unwrap());
    assert_eq!(
        coupons::special_credit_coupons_for_product(db, ids::PRODUCT_WORKSHOP)
            .await
            .unwrap()
            .len(),
        1
    );
}

both!(merchant_rows_are_found_or_created_once, merchants_impl);
async fn merchants_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    let acct = merchants::get_merchant_account(db, "stripe").await.unwrap().unwrap();
    assert_eq!(acct.id, ids::MERCHANT_ACCOUNT);
    assert_eq!(merchants::get_merchant_account(db, "paypal").await.unwrap(), None);
    assert_eq!(merchants::get_merchant_product(db, "prod_nope").await.unwrap(), None);
    let (c1, new1) = merchants::find_or_create_merchant_customer(db, &acct.id, ids::BOB, "cus_bob")
        .await
        .unwrap();
    let (c2, new2) = merchants::find_or_create_merchant_customer(db, &acct.id, ids::BOB, "cus_bob")
        .await
        .unwrap();
    assert!(new1 && !new2);
    assert_eq!(c1, c2);
    let ppp = merchants::get_merchant_coupon(db, ids::MERCHANT_COUPON_PPP)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ppp.kind.as_deref(), Some("ppp"));
    let credit = merchants::find_merchant_coupon_by_amount(db, "special credit", 19_900)
        .await
        .unwrap();
    assert_eq!(
        credit.map(|c| c.identifier),
        Some(ids::MERCHANT_COUPON_CREDIT.to_string())
    );
    assert_eq!(
        merchants::find_merchant_coupon_by_amount(db, "special credit", 1)
            .await
            .unwrap(),
        None
    );

    let payload = json!({"id": "evt_1", "type": "charge.refunded"});
    assert!(
        merchants::record_merchant_event(db, &acct.id, "evt_1", &payload)
            .await
            .unwrap()
    );
    assert!(
        !merchants::record_merchant_event(db, &acct.id, "evt_1", &json!({}))
            .await
            .unwrap()
    );
    assert_eq!(
        merchants::get_merchant_event_payload(db, "evt_1").await.unwrap(),
        Some(payload)
    );
}

both!(records_subscriptions_once, subscriptions_impl);
async fn subscriptions_impl(b: Backend) {
    use ingot::platform::commerce::subscriptions::{self, NewSubscription};
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    builders::product(db, "prod_member", "membership", "Membership", 2_000, json!({}), &[])
        .await
        .unwrap();
    let mp = merchants::ensure_merchant_product(db, "mp_member", ids::MERCHANT_ACCOUNT, "prod_member", "stripe_member")
        .await
        .unwrap();
    let (cus, _) = merchants::find_or_create_merchant_customer(db, ids::MERCHANT_ACCOUNT, ids::BOB, "cus_bob")
        .await
        .unwrap();
    let bob_org = organizations::memberships_of_user(db, ids::BOB)
        .await
        .unwrap()
        .remove(0)
        .organization
        .id;
    assert!(!subscriptions::has_active_subscription(db, ids::BOB).await.unwrap());

    let s1 = subscriptions::store_merchant_session(db, ids::MERCHANT_ACCOUNT, "cs_sub", Some(&bob_org))
        .await
        .unwrap();
    let s2 = subscriptions::store_merchant_session(db, ids::MERCHANT_ACCOUNT, "cs_sub", None)
        .await
        .unwrap();
    assert_eq!(s1, s2);
    let new = NewSubscription {
        merchant_account_id: ids::MERCHANT_ACCOUNT.into(),
        merchant_customer_id: cus.id,
        merchant_product_id: mp.id,
        product_id: "prod_member".into(),
        organization_id: Some(bob_org),
        stripe_subscription_id: "sub_1".into(),
    };
    let (a, created) = subscriptions::create_subscription(db, &new).await.unwrap();
    let (b2, again) = subscriptions::create_subscription(db, &new).await.unwrap();
    assert!(created && !again);
    assert_eq!(a, b2);
    assert_eq!(a.status, "active");
    assert_eq!(
        (
            rows(&t, "subscriptions").await,
            rows(&t, "merchant_subscriptions").await
        ),
        (1, 1)
    );
    assert!(subscriptions::has_active_subscription(db, ids::BOB).await.unwrap());
    assert!(!subscriptions::has_active_subscription(db, ids::ALICE).await.unwrap());
    let bad = NewSubscription {
        stripe_subscription_id: String::new(),
        ..new
    };
    assert!(matches!(
        subscriptions::create_subscription(db, &bad).await,
        Err(Error::Invalid(_))
    ));
}

both!(lists_valid_purchasers_of_a_resource, purchasers_impl);
async fn purchasers_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    let emails: Vec<String> = purchases::valid_purchasers_of_resource(db, ids::EVENT)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.email)
        .collect();
    assert_eq!(
        emails,
        ["alice@example.com"],
        "Frank's disputed purchase does not count"
    );
    assert!(
        purchases::valid_purchasers_of_resource(db, ids::EVENT_SERIES)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        purchases::valid_purchasers_of_resource(db, "nope")
            .await
            .unwrap()
            .is_empty()
    );
}
