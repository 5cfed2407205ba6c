//! A team (bulk) purchase and a full-price seat redemption.

use super::*;
use crate::both;

both!(team_purchase_and_seat_redemption, team_impl);
async fn team_impl(b: Backend) {
    let w = world(b, true, None).await;
    let (t, d) = (&w.t, &w.d);
    coupons::ensure_coupon(
        &t.db,
        &NewCoupon {
            id: "coupon_team".into(),
            max_uses: 5,
            percentage_discount: Some(1.0),
            restricted_to_product_id: Some("prod_cohort".into()),
            ..NewCoupon::default()
        },
    )
    .await
    .unwrap();
    let mut team = new_purchase("purch_team", "u_carol", "prod_cohort", PurchaseStatus::Valid);
    team.bulk_coupon_id = Some("coupon_team".into());
    team.organization_id = Some("org_team".into());
    purchase(t, team).await;
    let ids = d
        .api
        .send(json!({"name": "purchase/created",
            "data": {"purchaseId": "purch_team", "productType": "cohort"}}))
        .await;
    d.api.drain().await;
    let run = only_run(d, &ids[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["isTeamPurchase"], true);
    assert!(step_names(&run).contains(&"get bulk coupon".to_string()));
    assert!(step_names(&run).contains(&"send welcome email to team purchaser for cohort".to_string()));
    // "get bulk coupon" is a read step: no commit of its own, recorded by the email step's transaction.
    t.assert_recorded_together(
        run["id"].as_str().unwrap(),
        &["get bulk coupon", "send welcome email to team purchaser for cohort"],
    )
    .await;
    assert_eq!(
        step(&run, "mark entitlement coupons as used")["output"]["reason"],
        "No checkout session id"
    );
    assert_eq!(
        t.count("SELECT COUNT(*) AS n FROM entitlements WHERE user_id = 'u_carol'", &[])
            .await,
        0,
        "no access for the team buyer"
    );
    assert_eq!(
        t.count("SELECT COUNT(*) AS n FROM events WHERE name LIKE 'discord/%'", &[])
            .await,
        0
    );
    let mails = w.sink.received();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["carol@example.com"]);
    let m = text(&mails[0].data);
    assert!(m.contains("Thank you for buying 5 seats for Cohort One."), "{m}");
    assert!(m.contains("https://aihero.dev/?code=coupon_team"), "{m}");

    // The seat: a full-price coupon redemption by Ada.
    let mut seat = new_purchase("purch_seat", "u1", "prod_cohort", PurchaseStatus::Valid);
    seat.redeemed_bulk_coupon_id = Some("coupon_team".into());
    seat.organization_id = Some("org_team".into());
    seat.total_amount_cents = 0;
    purchase(t, seat).await;
    let ids = d
        .api
        .send(json!({"name": "coupon/full-price-redeemed",
            "data": {"purchaseId": "purch_seat", "productType": "cohort", "checkoutSessionId": "coupon-purch_seat"}}))
        .await;
    d.api.drain().await;
    let run = only_run(d, &ids[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["isFullPriceCouponRedemption"], true);
    assert_eq!(run["output"]["bulkCouponData"]["coupon"]["id"], "coupon_team");
    assert_eq!(
        run["output"]["bulkCouponData"]["originalBulkPurchase"]["id"],
        "purch_team"
    );
    // "get bulk coupon data" is a read step, recorded with the next step's attempt.
    t.assert_recorded_together(
        run["id"].as_str().unwrap(),
        &["get bulk coupon data", "gather all resource contexts"],
    )
    .await;
    assert_eq!(
        step(&run, "mark entitlement coupons as used")["output"]["reason"],
        "Full-price coupon redemption"
    );
    assert_eq!(live_entitlements(t, "u1", "cohort_content_access").await, 4);
    let m = organizations::get_membership(&t.db, "org_team", "u1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.invited_by_id, "u_carol", "invited by the team buyer");
    assert!(has_role(t, "org_team", "u1", "learner").await);
    let mails = w.sink.received();
    assert_eq!(mails.len(), 2);
    let m = text(&mails[1].data);
    assert_eq!(mails[1].to, ["ada@example.com"]);
    assert!(m.contains("Your team gave you a seat in Cohort One."), "{m}");
    assert!(
        w._stripe.received_requests().await.unwrap().is_empty(),
        "Stripe is not asked"
    );
}
