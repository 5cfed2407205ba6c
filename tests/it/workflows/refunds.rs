//! `update-purchase-status` and `refund-entitlements` (issue 11) against the demo catalogue: a status set through
//! the charge (by Stripe id or our charge id), unknown statuses and charges; an individual refund (purchase
//! Refunded, every entitlement soft-deleted, credits revoked or reported as used), a team refund (every seat,
//! seat memberships, the bulk coupon; the team buyer and owner keep their membership), the not-found outcomes,
//! and replays that change nothing.

use super::commerce_bed::{Bed, refund_event, run_of, status_event};
use super::harness::step_names;
use crate::both;
use crate::support::Backend;
use ingot::platform::entitlements;
use ingot::seed::demo::ids;
use serde_json::json;

const UPS: &str = "update-purchase-status";
const REFUND: &str = "refund-entitlements";

both!(update_purchase_status_sets_the_status_through_the_charge, status_impl);
async fn status_impl(b: Backend) {
    let bed = Bed::new(b).await;
    let d = bed.start();
    // By Stripe charge id; "Valid" starts no role removal.
    let run = run_of(&d.api, status_event("ch_bob_workshop", "Valid"), UPS).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(step_names(&run), ["update purchase status"]);
    assert_eq!(
        run["output"],
        json!({"purchaseId": ids::PURCHASE_BOB_WORKSHOP, "stripeChargeId": "ch_bob_workshop",
               "previousStatus": "Restricted", "status": "Valid", "changed": true})
    );
    assert_eq!(bed.status(ids::PURCHASE_BOB_WORKSHOP).await, "Valid");
    // By our merchant charge id; the same status again changes nothing.
    let run = run_of(&d.api, status_event("mc_ch_bob_workshop", "Valid"), UPS).await;
    assert_eq!(run["output"]["changed"], false, "{run}");
    let run = run_of(&d.api, status_event("ch_bob_workshop", "Banned"), UPS).await;
    assert_eq!(run["output"]["previousStatus"], "Valid");
    assert_eq!(bed.status(ids::PURCHASE_BOB_WORKSHOP).await, "Banned");

    // An unknown status or no charge id: failed at once, nothing changed.
    for data in [
        json!({"stripeChargeId": "ch_bob_workshop", "status": "Lost"}),
        json!({"status": "Refunded"}),
    ] {
        let run = run_of(
            &d.api,
            json!({"name": "commerce/update-purchase-status", "data": data}),
            UPS,
        )
        .await;
        assert_eq!(run["status"], "failed", "{run}");
        assert!(run["steps"].as_array().unwrap().is_empty(), "{run}");
    }
    assert_eq!(bed.status(ids::PURCHASE_BOB_WORKSHOP).await, "Banned");

    // A charge nobody recorded: retried (the checkout may not have run yet), then failed.
    let run = run_of(&d.api, status_event("ch_unknown", "Valid"), UPS).await;
    assert_eq!(run["status"], "failed", "{run}");
    let history = run["steps"][0]["history"].as_array().unwrap();
    assert_eq!(history.len(), 4, "first attempt and 3 retries: {run}");
    assert!(
        run["error"]
            .to_string()
            .contains("No purchase found for charge ch_unknown"),
        "{run}"
    );
}

both!(refund_of_an_individual_purchase, individual_impl);
async fn individual_impl(b: Backend) {
    let bed = Bed::new(b).await;
    // Bob's workshop purchase gave him an unused PPP credit; a second credit for the product was used already.
    let credit = entitlements::require_entitlement_type(&bed.db.db, "apply_special_credit")
        .await
        .unwrap();
    entitlements::create_entitlement(
        &bed.db.db,
        &entitlements::NewEntitlement {
            id: "credit_used".into(),
            entitlement_type_id: credit.id.clone(),
            user_id: ids::BOB.into(),
            organization_id: None,
            organization_membership_id: None,
            source_type: entitlements::SourceType::Coupon,
            source_id: ids::CREDIT_COUPON_WORKSHOP.into(),
            metadata: json!({"eligibilityProductId": ids::PRODUCT_WORKSHOP}),
            expires_at: None,
        },
    )
    .await
    .unwrap();
    bed.db
        .exec(
            "UPDATE entitlements SET deleted_at = CURRENT_TIMESTAMP WHERE id = 'credit_used'",
            &[],
        )
        .await;
    let bob_before = bed.live(ids::BOB).await;
    assert_eq!(
        bob_before.len(),
        3,
        "two workshop accesses and the unused credit: {bob_before:?}"
    );
    let unused_credit: Vec<&String> = bob_before
        .iter()
        .filter(|id| id.starts_with(ids::CREDIT_COUPON_PPP))
        .collect();
    assert_eq!(unused_credit.len(), 1);
    let alice_other = bed.live_of_purchase(ids::PURCHASE_ALICE_EVENT).await;

    let d = bed.start();
    let run = run_of(&d.api, refund_event("ch_bob_workshop"), REFUND).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        step_names(&run),
        [
            "get purchase for stripe charge",
            "handle credit entitlements refund",
            "soft delete entitlements for purchase"
        ]
    );
    let out = &run["output"];
    assert_eq!(
        (
            out["purchaseId"].as_str(),
            out["userId"].as_str(),
            out["isBulkPurchase"].as_bool()
        ),
        (Some(ids::PURCHASE_BOB_WORKSHOP), Some(ids::BOB), Some(false))
    );
    assert_eq!(
        (out["entitlementsDeleted"].as_i64(), out["reason"].as_str()),
        (Some(2), Some("success"))
    );
    assert_eq!(out["stripeChargeId"], "ch_bob_workshop");
    assert_eq!(out["creditRefund"]["type"], "source");
    assert_eq!(out["creditRefund"]["revokedIds"], json!([unused_credit[0]]));
    assert_eq!(out["creditRefund"]["usedIds"], json!(["credit_used"]));
    assert_eq!(
        out["creditRefund"]["financialLossDetails"],
        json!([{"entitlementId": "credit_used"}])
    );
    assert!(bed.live(ids::BOB).await.is_empty());
    assert_eq!(bed.status(ids::PURCHASE_BOB_WORKSHOP).await, "Refunded");
    assert_eq!(
        bed.live_of_purchase(ids::PURCHASE_ALICE_EVENT).await,
        alice_other,
        "nobody else touched"
    );

    // The original platform's name, with only the merchant charge id: a replay that changes nothing.
    let before = bed
        .count(
            "SELECT COUNT(*) AS n FROM entitlements WHERE deleted_at IS NOT NULL",
            &[],
        )
        .await;
    let run = run_of(
        &d.api,
        json!({"name": "commerce/refund-processed", "data": {"merchantChargeId": "ch_bob_workshop"}}),
        REFUND,
    )
    .await;
    assert_eq!(run["output"]["entitlementsDeleted"], 0, "{run}");
    assert_eq!(run["output"]["creditRefund"]["revokedIds"], json!([]));
    assert_eq!(
        bed.count(
            "SELECT COUNT(*) AS n FROM entitlements WHERE deleted_at IS NOT NULL",
            &[]
        )
        .await,
        before
    );
}

both!(refund_of_a_team_purchase_refunds_every_seat, team_impl);
async fn team_impl(b: Backend) {
    let bed = Bed::new(b).await;
    assert!(!bed.live_of_purchase(ids::PURCHASE_DAVE_SEAT).await.is_empty());
    let d = bed.start();
    let run = run_of(&d.api, refund_event("ch_carol_team"), REFUND).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        step_names(&run),
        [
            "get purchase for stripe charge",
            "handle credit entitlements refund",
            "refund bulk purchase entitlements"
        ]
    );
    let out = &run["output"];
    assert_eq!(out["isBulkPurchase"], true);
    assert_eq!(out["totalPurchasesRefunded"], 2);
    assert_eq!(out["membershipsRemoved"], 1);
    assert_eq!(out["couponRevoked"], true);
    assert_eq!(out["creditRefund"]["type"], "none");
    assert_eq!(
        out["affectedUsers"],
        json!([
            {"userId": ids::CAROL, "purchaseId": ids::PURCHASE_CAROL_TEAM, "email": "carol@example.com"},
            {"userId": ids::DAVE, "purchaseId": ids::PURCHASE_DAVE_SEAT, "email": "dave@example.com"},
        ])
    );
    for p in [ids::PURCHASE_CAROL_TEAM, ids::PURCHASE_DAVE_SEAT] {
        assert_eq!(bed.status(p).await, "Refunded");
        assert!(bed.live_of_purchase(p).await.is_empty());
    }
    assert!(bed.live(ids::DAVE).await.is_empty());
    assert_eq!(
        bed.memberships(ids::CAROL)
            .await
            .iter()
            .filter(|m| m.starts_with(ids::TEAM_ORG))
            .count(),
        1
    );
    assert!(
        !bed.memberships(ids::DAVE)
            .await
            .iter()
            .any(|m| m.starts_with(ids::TEAM_ORG)),
        "the seat holder left the team"
    );
    assert_eq!(
        bed.count(
            "SELECT CAST(status AS BIGINT) AS n FROM coupons WHERE id = $1",
            &[ids::TEAM_COUPON]
        )
        .await,
        0,
        "the bulk coupon is deactivated"
    );
    assert_eq!(
        bed.status(ids::PURCHASE_ALICE_COHORT).await,
        "Valid",
        "other buyers keep theirs"
    );

    // Refunded again: nothing more changes.
    let run = run_of(&d.api, refund_event("ch_carol_team"), REFUND).await;
    let out = &run["output"];
    assert_eq!(
        (
            out["entitlementsDeleted"].as_i64(),
            out["membershipsRemoved"].as_i64(),
            out["couponRevoked"].as_bool()
        ),
        (Some(0), Some(0), Some(false)),
        "{run}"
    );
}

both!(
    a_team_refund_that_fails_half_way_leaves_nothing_behind,
    team_atomic_impl
);
/// "refund bulk purchase entitlements" is a transactional step: when its last write (the bulk coupon) is refused,
/// the seats it had already refunded, the entitlements it had soft-deleted and the membership it had removed roll
/// back with it, on every attempt; once the write is allowed, a new delivery refunds everything. (With the writes
/// committed one by one, as before transactional steps, the failed run left every seat `Refunded`.)
async fn team_atomic_impl(b: Backend) {
    let bed = Bed::new(b).await;
    let refuse = match b {
        Backend::Sqlite => vec![
            "CREATE TRIGGER refuse_coupon_revoke BEFORE UPDATE OF status ON coupons \
             BEGIN SELECT RAISE(ABORT, 'coupon revocation refused by the test'); END"
                .to_string(),
        ],
        Backend::Postgres => vec![
            "CREATE FUNCTION refuse_coupon_revoke() RETURNS trigger AS $f$ BEGIN \
             RAISE EXCEPTION 'coupon revocation refused by the test'; END $f$ LANGUAGE plpgsql"
                .to_string(),
            "CREATE TRIGGER refuse_coupon_revoke BEFORE UPDATE OF status ON coupons \
             FOR EACH ROW EXECUTE FUNCTION refuse_coupon_revoke()"
                .to_string(),
        ],
    };
    for sql in &refuse {
        bed.db.exec(sql, &[]).await;
    }
    let before: Vec<(String, Vec<String>)> = {
        let mut v = Vec::new();
        for p in [ids::PURCHASE_CAROL_TEAM, ids::PURCHASE_DAVE_SEAT] {
            v.push((bed.status(p).await, bed.live_of_purchase(p).await));
        }
        v
    };
    let dave_memberships = bed.memberships(ids::DAVE).await;
    assert!(dave_memberships.iter().any(|m| m.starts_with(ids::TEAM_ORG)));

    let d = bed.start();
    let run = run_of(&d.api, refund_event("ch_carol_team"), REFUND).await;
    assert_eq!(run["status"], "failed", "{run}");
    let step = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "refund bulk purchase entitlements")
        .unwrap_or_else(|| panic!("{run}"));
    assert!(
        step.to_string().contains("coupon revocation refused by the test"),
        "the step failed on the refused write: {step}"
    );
    for (p, (status, live)) in [ids::PURCHASE_CAROL_TEAM, ids::PURCHASE_DAVE_SEAT].iter().zip(&before) {
        assert_eq!(&bed.status(p).await, status, "{p}: its status rolled back");
        assert_eq!(
            &bed.live_of_purchase(p).await,
            live,
            "{p}: its entitlements rolled back"
        );
    }
    assert_eq!(
        bed.memberships(ids::DAVE).await,
        dave_memberships,
        "the seat holder's membership rolled back"
    );

    // The write is allowed again: a new delivery of the refund does the whole job.
    let allow = match b {
        Backend::Sqlite => "DROP TRIGGER refuse_coupon_revoke",
        Backend::Postgres => "DROP TRIGGER refuse_coupon_revoke ON coupons",
    };
    bed.db.exec(allow, &[]).await;
    let run = run_of(
        &d.api,
        json!({"name": "stripe/refund-processed", "id": "refund-again",
               "data": {"stripeChargeId": "ch_carol_team"}}),
        REFUND,
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["totalPurchasesRefunded"], 2, "{run}");
    assert_eq!(run["output"]["couponRevoked"], true, "{run}");
    for p in [ids::PURCHASE_CAROL_TEAM, ids::PURCHASE_DAVE_SEAT] {
        assert_eq!(bed.status(p).await, "Refunded");
        assert!(bed.live_of_purchase(p).await.is_empty());
    }
}

both!(refund_outcomes_without_a_purchase, not_found_impl);
async fn not_found_impl(b: Backend) {
    let bed = Bed::new(b).await;
    bed.db
        .exec(
            "UPDATE purchases SET user_id = NULL WHERE id = $1",
            &[ids::PURCHASE_ALICE_EVENT],
        )
        .await;
    let d = bed.start();
    let run = run_of(&d.api, refund_event("ch_nobody"), REFUND).await;
    assert_eq!(run["status"], "completed");
    assert_eq!(
        run["output"],
        json!({"entitlementsDeleted": 0, "reason": "purchase_not_found", "stripeChargeId": "ch_nobody"})
    );
    let run = run_of(&d.api, refund_event("ch_alice_event"), REFUND).await;
    assert_eq!(
        run["output"],
        json!({"entitlementsDeleted": 0, "reason": "user_id_not_found", "stripeChargeId": "ch_alice_event",
               "purchaseId": ids::PURCHASE_ALICE_EVENT})
    );
    assert_eq!(step_names(&run), ["get purchase for stripe charge"]);
    let run = run_of(&d.api, json!({"name": "stripe/refund-processed", "data": {}}), REFUND).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["steps"].as_array().unwrap().is_empty());
}
