//! Entitlements: recursive content access, Discord roles, credits and soft deletes.

use super::{rows, snapshot};
use crate::both;
use crate::support::{Backend, TestDb};
use ingot::platform::commerce::product_types::ProductType;
use ingot::platform::content;
use ingot::platform::entitlements::{self as ent, Grant, NewEntitlement, SourceType};
use ingot::seed::builders;
use ingot::seed::demo::{self, ids};
use serde_json::json;

const TYPES: [&str; 6] = [
    "cohort_content_access",
    "workshop_content_access",
    "cohort_discord_role",
    "workshop_discord_role",
    "subscription_tier",
    "apply_special_credit",
];

both!(entitlement_types_come_from_migrations, types_impl);
async fn types_impl(b: Backend) {
    let t = TestDb::new(b).await;
    for name in TYPES {
        assert_eq!(ent::require_entitlement_type(&t.db, name).await.unwrap().name, name);
    }
    assert_eq!(ent::get_entitlement_type(&t.db, "nope").await.unwrap(), None);
    assert!(
        ent::require_entitlement_type(&t.db, "nope")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

/// A user and purchase with no entitlements yet, plus the grant for a product type.
pub async fn buyer(t: &TestDb, kind: ProductType) -> Grant {
    let db = &t.db;
    demo::load(db).await.unwrap();
    let (_, org) = builders::user(db, "u_buyer", "buyer@example.com", "Buyer")
        .await
        .unwrap();
    let product = if kind == ProductType::Cohort {
        ids::PRODUCT_COHORT
    } else {
        ids::PRODUCT_WORKSHOP
    };
    builders::purchase(
        db,
        "purch_buyer",
        "u_buyer",
        product,
        ingot::platform::commerce::PurchaseStatus::Valid,
        100,
    )
    .await
    .unwrap();
    let ty = ent::require_entitlement_type(db, kind.config().content_access)
        .await
        .unwrap();
    Grant {
        user_id: "u_buyer".into(),
        purchase_id: "purch_buyer".into(),
        organization_id: Some(org.organization.id),
        organization_membership_id: Some(org.membership.id),
        content_access_type_id: ty.id,
    }
}

both!(creates_cohort_entitlements_recursively_once, recursive_impl);
async fn recursive_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    let grant = buyer(&t, ProductType::Cohort).await;
    let cohort = content::get_cohort(db, ids::COHORT).await.unwrap().unwrap();
    let first = ent::create_resource_entitlements(db, ProductType::Cohort, &cohort, &grant)
        .await
        .unwrap();
    let granted: Vec<&str> = first.iter().map(|g| g.resource_id.as_str()).collect();
    let expected = [
        ids::WORKSHOPS[0],
        ids::SECTIONS[0],
        ids::LESSONS[0],
        ids::LESSONS[1],
        ids::SECTIONS[1],
        ids::LESSONS[2],
        ids::LESSONS[3],
        ids::WORKSHOPS[1],
        ids::WORKSHOPS[2],
    ];
    assert_eq!(
        granted, expected,
        "every nested content resource, depth first, no email attachment"
    );
    assert!(first.iter().all(|g| g.created));
    assert_eq!(first[0].resource_title.as_deref(), Some("Foundations"));
    let live = ent::entitlements_of_user(
        db,
        "u_buyer",
        std::slice::from_ref(&grant.content_access_type_id),
        false,
    )
    .await
    .unwrap();
    assert_eq!(live.len(), 9);
    for e in &live {
        assert_eq!(
            (e.source_type.as_str(), e.source_id.as_str()),
            ("PURCHASE", "purch_buyer")
        );
        assert_eq!(e.content_ids().len(), 1);
        assert_eq!(e.organization_membership_id, grant.organization_membership_id);
    }

    let before = snapshot(&t).await;
    let second = ent::create_resource_entitlements(db, ProductType::Cohort, &cohort, &grant)
        .await
        .unwrap();
    assert!(second.iter().all(|g| !g.created));
    let ids_of = |v: &[ent::GrantedEntitlement]| v.iter().map(|g| g.entitlement_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids_of(&second), ids_of(&first), "the same entitlements are reported");
    assert_eq!(snapshot(&t).await, before, "run twice: nothing new");

    // A live entitlement from another source counts; a soft-deleted one does not.
    ent::soft_delete_entitlement(db, &first[0].entitlement_id)
        .await
        .unwrap();
    let third = ent::create_resource_entitlements(db, ProductType::Cohort, &cohort, &grant)
        .await
        .unwrap();
    let created: Vec<&str> = third
        .iter()
        .filter(|g| g.created)
        .map(|g| g.resource_id.as_str())
        .collect();
    assert_eq!(created, [ids::WORKSHOPS[0]]);
}

both!(creates_self_paced_entitlements_for_the_workshop, self_paced_impl);
async fn self_paced_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    let grant = buyer(&t, ProductType::SelfPaced).await;
    let ws = content::get_workshop(db, ids::SELF_PACED_WORKSHOP)
        .await
        .unwrap()
        .unwrap();
    let out = ent::create_resource_entitlements(db, ProductType::SelfPaced, &ws, &grant)
        .await
        .unwrap();
    let got: Vec<&str> = out.iter().map(|g| g.resource_id.as_str()).collect();
    assert_eq!(got, [ids::SELF_PACED_WORKSHOP, "lesson_demo_ts_setup"]);
    let users = ent::users_with_content_access(db, &grant.content_access_type_id, ids::SELF_PACED_WORKSHOP)
        .await
        .unwrap();
    assert_eq!(users, ["u_buyer".to_string(), ids::BOB.to_string()]);
    assert!(
        ent::users_with_content_access(db, &grant.content_access_type_id, "nope")
            .await
            .unwrap()
            .is_empty()
    );
}

both!(creates_entitlements_by_id_once, create_impl);
async fn create_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    builders::user(db, "u1", "a@example.com", "A").await.unwrap();
    let new = NewEntitlement {
        id: "ent_1".into(),
        entitlement_type_id: "et_subscription_tier".into(),
        user_id: "u1".into(),
        organization_id: None,
        organization_membership_id: None,
        source_type: SourceType::Manual,
        source_id: "admin".into(),
        metadata: json!({"tier": "pro"}),
        expires_at: Some(
            chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
        ),
    };
    let (e1, c1) = ent::create_entitlement(db, &new).await.unwrap();
    let (e2, c2) = ent::create_entitlement(db, &new).await.unwrap();
    assert!(c1 && !c2);
    assert_eq!(e1, e2);
    assert_eq!(e1.metadata, json!({"tier": "pro"}));
    assert!(
        ent::entitlements_of_user(db, "u1", &[], false)
            .await
            .unwrap()
            .is_empty(),
        "expired is not live"
    );
    assert_eq!(ent::entitlements_of_user(db, "u1", &[], true).await.unwrap().len(), 1);
    assert_eq!(ent::get_entitlement(db, "nope").await.unwrap(), None);
    assert_eq!(
        ent::entitlements_of_source(db, SourceType::Manual, "admin", false)
            .await
            .unwrap()
            .len(),
        1
    );
}

both!(soft_deletes_are_guarded, soft_delete_impl);
async fn soft_delete_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    let total = rows(&t, "entitlements").await;

    // By purchase.
    assert_eq!(
        ent::soft_delete_purchase_entitlements(db, ids::PURCHASE_BOB_WORKSHOP)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        ent::soft_delete_purchase_entitlements(db, ids::PURCHASE_BOB_WORKSHOP)
            .await
            .unwrap(),
        0
    );
    assert_eq!(ent::soft_delete_purchase_entitlements(db, "nope").await.unwrap(), 0);

    // By coupon (credits used at checkout).
    let coupons = vec![ids::CREDIT_COUPON_PPP.to_string()];
    assert_eq!(ent::mark_coupon_credits_used(db, ids::BOB, &coupons).await.unwrap(), 1);
    assert_eq!(ent::mark_coupon_credits_used(db, ids::BOB, &coupons).await.unwrap(), 0);

    // By cohort resource: workshops taken out of a cohort.
    let ty = ent::require_entitlement_type(db, "cohort_content_access")
        .await
        .unwrap();
    let removed = vec![ids::WORKSHOPS[2].to_string(), ids::LESSONS[3].to_string()];
    let gone =
        ent::soft_delete_content_entitlements(db, ids::ALICE, &ty.id, Some(ids::PURCHASE_ALICE_COHORT), &removed)
            .await
            .unwrap();
    assert_eq!(gone.len(), 2);
    let again = ent::soft_delete_content_entitlements(db, ids::ALICE, &ty.id, None, &removed)
        .await
        .unwrap();
    assert!(again.is_empty());
    let other_purchase = ent::soft_delete_content_entitlements(db, ids::DAVE, &ty.id, Some("other"), &removed)
        .await
        .unwrap();
    assert!(other_purchase.is_empty(), "only the given purchase's entitlements");
    assert_eq!(
        ent::entitlements_of_user(db, ids::ALICE, std::slice::from_ref(&ty.id), false)
            .await
            .unwrap()
            .len(),
        7
    );

    // By organization and type.
    let n =
        ent::soft_delete_user_entitlements_in_organization(db, ids::DAVE, ids::TEAM_ORG, std::slice::from_ref(&ty.id))
            .await
            .unwrap();
    assert_eq!(n, 9);
    assert_eq!(rows(&t, "entitlements").await, total, "soft deletes keep every row");
}

both!(finds_cohort_access_holders, cohort_holders_impl);
async fn cohort_holders_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    let holders = ent::cohort_access_holders(db, ids::COHORT).await.unwrap();
    assert_eq!(holders, [ids::ALICE, ids::DAVE]);
    assert_eq!(
        ent::cohort_entitlements_of_user(db, ids::COHORT, ids::ALICE)
            .await
            .unwrap()
            .len(),
        9
    );
    let alice_purchases = ent::cohort_purchases(db, ids::COHORT, Some(ids::ALICE)).await.unwrap();
    assert_eq!(alice_purchases.len(), 1);
    ingot::platform::commerce::purchases::set_purchase_status(
        db,
        ids::PURCHASE_ALICE_COHORT,
        ingot::platform::commerce::PurchaseStatus::Refunded,
    )
    .await
    .unwrap();
    assert_eq!(ent::cohort_access_holders(db, ids::COHORT).await.unwrap(), [ids::DAVE]);
    assert!(
        ent::cohort_entitlements_of_user(db, ids::COHORT, ids::ALICE)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(ent::cohort_access_holders(db, "nope").await.unwrap().is_empty());
}
