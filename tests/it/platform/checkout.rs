//! Checkout (`create_merchant_charge_and_purchase`), refunds and purchase attribution.

use super::{rows, snapshot};
use crate::both;
use crate::support::{Backend, TestDb};
use ingot::platform::commerce::PurchaseStatus::{self, *};
use ingot::platform::commerce::checkout::{self, ChargeAndPurchase, ParsedCheckoutSession};
use ingot::platform::commerce::{coupons, merchants, purchases, refunds};
use ingot::platform::{Error, entitlements, organizations, shortlinks};
use ingot::seed::builders;
use ingot::seed::demo::{self, ids};
use serde_json::json;

fn session(charge: &str, quantity: i32) -> ParsedCheckoutSession {
    ParsedCheckoutSession {
        checkout_session_id: format!("cs_{charge}"),
        stripe_charge_id: charge.into(),
        stripe_charge_amount_cents: 19_999,
        quantity,
        country: Some("US".into()),
        ..ParsedCheckoutSession::default()
    }
}

async fn checkout_input(
    db: &ingot::store::Db,
    user: &str,
    product: &str,
    s: ParsedCheckoutSession,
) -> ChargeAndPurchase {
    let mp = merchants::get_merchant_product(db, &format!("stripe_{product}"))
        .await
        .unwrap()
        .unwrap();
    let (customer, _) =
        merchants::find_or_create_merchant_customer(db, ids::MERCHANT_ACCOUNT, user, &format!("cus_{user}"))
            .await
            .unwrap();
    ChargeAndPurchase {
        user_id: user.into(),
        product_id: product.into(),
        merchant_account_id: ids::MERCHANT_ACCOUNT.into(),
        merchant_product_id: mp.id,
        merchant_customer_id: customer.id,
        session: s,
    }
}

both!(checkout_creates_charge_and_purchase_once, checkout_impl);
async fn checkout_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    builders::user(db, "u_new", "new@example.com", "New").await.unwrap();
    let input = checkout_input(db, "u_new", ids::PRODUCT_WORKSHOP, session("ch_1", 1)).await;
    let first = checkout::create_merchant_charge_and_purchase(db, &input).await.unwrap();
    assert!(first.created);
    let p = &first.purchase;
    assert_eq!(
        (p.status, p.total_amount_cents, p.bulk_coupon_id.as_deref()),
        (Valid, 19_999, None)
    );
    assert_eq!(p.country.as_deref(), Some("US"));
    assert!(p.id.starts_with("purch_") && p.merchant_charge_id.is_some() && p.merchant_session_id.is_some());
    let before = snapshot(&t).await;
    let second = checkout::create_merchant_charge_and_purchase(db, &input).await.unwrap();
    assert!(!second.created);
    assert_eq!(second.purchase, first.purchase);
    assert_eq!(snapshot(&t).await, before, "the second call writes nothing");
    let open = t
        .count(
            "SELECT COUNT(*) AS n FROM purchase_user_transfers WHERE purchase_id = $1 AND transfer_state = 'AVAILABLE' \
             AND expires_at > created_at",
            &[&p.id],
        )
        .await;
    assert_eq!(open, 1, "a new purchase can be transferred for a week");

    let by_charge = purchases::get_purchase_for_stripe_charge(db, "ch_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_charge.purchase, first.purchase);
    assert_eq!(by_charge.user.map(|u| u.email), Some("new@example.com".into()));
    assert_eq!(by_charge.product.map(|p| p.id), Some(ids::PRODUCT_WORKSHOP.into()));
    let by_our_id = purchases::get_purchase_for_stripe_charge(db, p.merchant_charge_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(by_our_id.map(|x| x.purchase.id), Some(p.id.clone()));
    assert_eq!(
        purchases::get_purchase_for_stripe_charge(db, "ch_nope").await.unwrap(),
        None
    );
    let refunded = purchases::set_purchase_status_for_charge(db, "ch_1", Refunded)
        .await
        .unwrap();
    assert_eq!(refunded.status, Refunded);
    assert!(
        purchases::set_purchase_status_for_charge(db, "ch_nope", Refunded)
            .await
            .unwrap_err()
            .is_not_found()
    );

    // Bad input changes nothing.
    let mut bad = input.clone();
    bad.session.stripe_charge_id = String::new();
    let before = snapshot(&t).await;
    assert!(matches!(
        checkout::create_merchant_charge_and_purchase(db, &bad).await,
        Err(Error::Invalid(_))
    ));
    assert_eq!(snapshot(&t).await, before);
}

both!(checkout_handles_bulk_and_ppp, bulk_impl);
async fn bulk_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    builders::user(db, "u_team", "team@example.com", "Team").await.unwrap();
    let team = checkout_input(db, "u_team", ids::PRODUCT_COHORT, session("ch_team", 3)).await;
    let first = checkout::create_merchant_charge_and_purchase(db, &team).await.unwrap();
    let coupon = first.bulk_coupon.clone().expect("a bulk coupon");
    assert_eq!((coupon.max_uses, coupon.percentage_discount), (3, Some(1.0)));
    assert_eq!(coupon.restricted_to_product_id.as_deref(), Some(ids::PRODUCT_COHORT));
    // More seats later: the same coupon grows.
    let more = checkout_input(db, "u_team", ids::PRODUCT_COHORT, session("ch_team_2", 2)).await;
    let second = checkout::create_merchant_charge_and_purchase(db, &more).await.unwrap();
    assert_eq!(
        second.bulk_coupon.as_ref().map(|c| (c.id.as_str(), c.max_uses)),
        Some((coupon.id.as_str(), 5))
    );
    checkout::create_merchant_charge_and_purchase(db, &more).await.unwrap();
    assert_eq!(
        coupons::get_coupon(db, &coupon.id).await.unwrap().unwrap().max_uses,
        5,
        "a retry adds no seats"
    );
    let with = coupons::get_coupon_with_bulk_purchases(db, &coupon.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(with.bulk_purchases.len(), 2);
    assert_eq!(
        with.original_bulk_purchase().map(|p| p.id.as_str()),
        Some(first.purchase.id.as_str())
    );

    // Buying what you already own makes it a bulk purchase (a seat to give away).
    let alice_again = checkout_input(db, ids::ALICE, ids::PRODUCT_COHORT, session("ch_alice_2", 1)).await;
    let again = checkout::create_merchant_charge_and_purchase(db, &alice_again)
        .await
        .unwrap();
    assert!(again.purchase.bulk_coupon_id.is_some());

    // A PPP coupon makes the purchase Restricted.
    builders::user(db, "u_ppp", "ppp@example.com", "P").await.unwrap();
    let mut s = session("ch_ppp", 1);
    s.stripe_coupon_id = Some(ids::MERCHANT_COUPON_PPP.into());
    s.used_coupon_id = Some("not-a-coupon".into());
    let ppp = checkout_input(db, "u_ppp", ids::PRODUCT_WORKSHOP, s).await;
    let out = checkout::create_merchant_charge_and_purchase(db, &ppp).await.unwrap();
    assert_eq!(out.purchase.status, Restricted);
    assert_eq!(out.purchase.coupon_id, None, "an unknown used coupon is dropped");
}

both!(refunds_a_bulk_purchase_and_its_seats, bulk_refund_impl);
async fn bulk_refund_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    // Dave (a seat) also has a Discord-role entitlement in the team organization.
    let discord = entitlements::require_entitlement_type(db, "cohort_discord_role")
        .await
        .unwrap();
    let dave_m = organizations::get_membership(db, ids::TEAM_ORG, ids::DAVE)
        .await
        .unwrap()
        .unwrap();
    let grant = entitlements::Grant {
        user_id: ids::DAVE.into(),
        purchase_id: "manual-grant".into(),
        organization_id: Some(ids::TEAM_ORG.into()),
        organization_membership_id: Some(dave_m.id),
        content_access_type_id: discord.id.clone(),
    };
    entitlements::ensure_discord_role_entitlement(db, &grant, &discord.id, ids::COHORT, "role-1")
        .await
        .unwrap();
    let dave_live_before = entitlements::entitlements_of_user(db, ids::DAVE, &[], false)
        .await
        .unwrap()
        .len();
    assert_eq!(dave_live_before, 10);

    let out = refunds::refund_bulk_purchase_entitlements(db, ids::PURCHASE_CAROL_TEAM)
        .await
        .unwrap();
    assert_eq!(out.total_purchases_refunded, 2);
    assert_eq!(
        out.entitlements_deleted, 10,
        "Dave's content access and his Discord role (by type id)"
    );
    assert_eq!(out.memberships_removed, 1);
    assert!(out.coupon_revoked);
    let users: Vec<&str> = out.affected_users.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(users, [ids::CAROL, ids::DAVE]);
    for id in [ids::PURCHASE_CAROL_TEAM, ids::PURCHASE_DAVE_SEAT] {
        assert_eq!(
            purchases::get_purchase(db, id).await.unwrap().unwrap().status,
            PurchaseStatus::Refunded
        );
    }
    assert!(
        entitlements::entitlements_of_user(db, ids::DAVE, &[], false)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        organizations::get_membership(db, ids::TEAM_ORG, ids::DAVE)
            .await
            .unwrap(),
        None
    );
    assert!(
        organizations::get_membership(db, ids::TEAM_ORG, ids::CAROL)
            .await
            .unwrap()
            .is_some(),
        "the owner stays"
    );
    assert_eq!(
        coupons::get_coupon(db, ids::TEAM_COUPON).await.unwrap().unwrap().status,
        0
    );

    let before = snapshot(&t).await;
    let again = refunds::refund_bulk_purchase_entitlements(db, ids::PURCHASE_CAROL_TEAM)
        .await
        .unwrap();
    assert_eq!(
        (
            again.entitlements_deleted,
            again.memberships_removed,
            again.coupon_revoked
        ),
        (0, 0, false)
    );
    assert_eq!(snapshot(&t).await, before);

    let not_bulk = refunds::refund_bulk_purchase_entitlements(db, ids::PURCHASE_ALICE_COHORT).await;
    assert!(matches!(not_bulk, Err(Error::Invalid(_))));
    assert!(
        refunds::refund_bulk_purchase_entitlements(db, "nope")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

both!(refunds_an_individual_purchase, refund_impl);
async fn refund_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    let n = refunds::refund_purchase(db, ids::PURCHASE_ALICE_COHORT).await.unwrap();
    assert_eq!(n, 10, "9 content entitlements and the Discord role");
    assert_eq!(
        refunds::refund_purchase(db, ids::PURCHASE_ALICE_COHORT).await.unwrap(),
        0
    );
    let p = purchases::get_purchase(db, ids::PURCHASE_ALICE_COHORT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.status, Refunded);
    assert!(refunds::refund_purchase(db, "nope").await.unwrap_err().is_not_found());
    assert_eq!(rows(&t, "entitlements").await, 22, "soft-deleted, never removed");
}

both!(attributes_purchases_to_shortlinks_once, shortlinks_impl);
async fn shortlinks_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    let meta = json!({"productId": ids::PRODUCT_COHORT});
    let (a, created) = shortlinks::record_purchase_attribution(
        db,
        "launch",
        ids::PURCHASE_ALICE_COHORT,
        ids::ALICE,
        "alice@example.com",
        &meta,
    )
    .await
    .unwrap();
    assert!(created);
    let (_, again) = shortlinks::record_purchase_attribution(
        db,
        "launch",
        ids::PURCHASE_ALICE_COHORT,
        ids::ALICE,
        "alice@example.com",
        &meta,
    )
    .await
    .unwrap();
    assert!(!again);
    assert_eq!(
        shortlinks::count_attributions(db, &a.shortlink_id, "purchase")
            .await
            .unwrap(),
        1
    );
    let missing =
        shortlinks::record_purchase_attribution(db, "nope", ids::PURCHASE_ALICE_COHORT, ids::ALICE, "a@x", &meta).await;
    assert!(missing.unwrap_err().is_not_found());
    assert_eq!(shortlinks::get_shortlink_by_slug(db, "nope").await.unwrap(), None);
}
