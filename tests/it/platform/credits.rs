//! Discord-role and special-credit entitlements: created once, revoked and transferred.

use crate::both;
use crate::support::{Backend, TestDb};
use ingot::platform::commerce::product_types::ProductType;
use ingot::platform::entitlements as ent;
use ingot::seed::builders;
use ingot::seed::demo::{self, ids};

use super::entitlements::buyer;

both!(discord_and_credit_entitlements_are_not_duplicated, discord_credit_impl);
async fn discord_credit_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    let grant = buyer(&t, ProductType::Cohort).await;
    let discord = ent::require_entitlement_type(db, "cohort_discord_role").await.unwrap();
    let (d1, c1) = ent::ensure_discord_role_entitlement(db, &grant, &discord.id, ids::COHORT, "r1")
        .await
        .unwrap();
    let (d2, c2) = ent::ensure_discord_role_entitlement(db, &grant, &discord.id, ids::COHORT, "r1")
        .await
        .unwrap();
    assert!(c1 && !c2);
    assert_eq!(d1.id, d2.id);
    assert!(d1.id.starts_with(&format!("{}-discord-", ids::COHORT)));
    let (_, other_role) = ent::ensure_discord_role_entitlement(db, &grant, &discord.id, ids::COHORT, "r2")
        .await
        .unwrap();
    assert!(other_role);

    let (cr1, n1) = ent::ensure_credit_entitlement(
        db,
        "u_buyer",
        None,
        None,
        ids::CREDIT_COUPON_WORKSHOP,
        ids::PRODUCT_WORKSHOP,
    )
    .await
    .unwrap();
    let (cr2, n2) = ent::ensure_credit_entitlement(
        db,
        "u_buyer",
        None,
        None,
        ids::CREDIT_COUPON_WORKSHOP,
        ids::PRODUCT_WORKSHOP,
    )
    .await
    .unwrap();
    assert!(n1 && !n2);
    assert_eq!(cr1.id, cr2.id);
    assert_eq!(cr1.metadata["eligibilityProductId"], ids::PRODUCT_WORKSHOP);
    let credits = ent::credit_entitlements_for_product(db, "u_buyer", ids::PRODUCT_WORKSHOP, false)
        .await
        .unwrap();
    assert_eq!(credits.len(), 1);
    assert!(
        ent::credit_entitlements_for_product(db, "u_buyer", ids::PRODUCT_COHORT, false)
            .await
            .unwrap()
            .is_empty()
    );
}

both!(revokes_credits_reporting_used_ones, credits_impl);
async fn credits_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    ent::ensure_credit_entitlement(
        db,
        ids::BOB,
        None,
        None,
        ids::CREDIT_COUPON_WORKSHOP,
        ids::PRODUCT_WORKSHOP,
    )
    .await
    .unwrap();
    // One of Bob's two credits was used at a checkout.
    ent::mark_coupon_credits_used(db, ids::BOB, &[ids::CREDIT_COUPON_PPP.to_string()])
        .await
        .unwrap();
    let first = ent::revoke_credit_entitlements_for_product(db, ids::BOB, ids::PRODUCT_WORKSHOP)
        .await
        .unwrap();
    assert_eq!((first.revoked_ids.len(), first.used_ids.len()), (1, 1));
    let second = ent::revoke_credit_entitlements_for_product(db, ids::BOB, ids::PRODUCT_WORKSHOP)
        .await
        .unwrap();
    assert_eq!((second.revoked_ids.len(), second.used_ids.len()), (0, 2));
    let none = ent::revoke_credit_entitlements_for_product(db, ids::ALICE, ids::PRODUCT_WORKSHOP)
        .await
        .unwrap();
    assert!(none.revoked_ids.is_empty() && none.used_ids.is_empty());
}

both!(transfers_credits_once, transfer_credits_impl);
async fn transfer_credits_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    let (_, org) = builders::user(db, "u_target", "target@example.com", "Target")
        .await
        .unwrap();
    let moved = ent::transfer_credit_entitlements(
        db,
        ids::BOB,
        "u_target",
        ids::PRODUCT_WORKSHOP,
        Some(&org.organization.id),
        Some(&org.membership.id),
    )
    .await
    .unwrap();
    assert_eq!(moved.len(), 1);
    let again = ent::transfer_credit_entitlements(db, ids::BOB, "u_target", ids::PRODUCT_WORKSHOP, None, None)
        .await
        .unwrap();
    assert!(again.is_empty(), "nothing live left to move");
    assert!(
        ent::credit_entitlements_for_product(db, ids::BOB, ids::PRODUCT_WORKSHOP, false)
            .await
            .unwrap()
            .is_empty()
    );
    let target = ent::credit_entitlements_for_product(db, "u_target", ids::PRODUCT_WORKSHOP, false)
        .await
        .unwrap();
    assert_eq!(target.len(), 1);
    assert_eq!(target[0].id, moved[0].1);
    assert_eq!(target[0].source_id, ids::CREDIT_COUPON_PPP);
    assert_eq!(
        target[0].organization_membership_id.as_deref(),
        Some(org.membership.id.as_str())
    );
}
