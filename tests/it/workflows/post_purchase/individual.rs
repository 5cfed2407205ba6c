//! Individual purchases: a cohort (Valid) and a workshop bought under the original event name, Restricted, in an
//! organization.

use super::*;
use crate::both;

both!(individual_cohort_purchase, individual_cohort_impl);
async fn individual_cohort_impl(b: Backend) {
    let w = world(b, true, None).await;
    let (t, d) = (&w.t, &w.d);
    purchase(t, new_purchase("purch_1", "u1", "prod_cohort", PurchaseStatus::Valid)).await;
    // Ada holds a special credit from coupon_credit, which she used at this checkout.
    ent::ensure_credit_entitlement(&t.db, "u1", None, None, "coupon_credit", "prod_other")
        .await
        .unwrap();
    // The expanded fetch is this workflow's (`shortlink-attribution` fetches the session unexpanded).
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_1"))
        .and(wiremock::matchers::query_param("expand[]", "customer"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "cs_1", "mode": "payment", "metadata": {"usedEntitlementCouponIds": "coupon_credit, coupon_gone"},
        })))
        .expect(1)
        .mount(&w._stripe)
        .await;
    let event = json!({"name": "purchase/created",
        "data": {"purchaseId": "purch_1", "productType": "cohort", "checkoutSessionId": "cs_1"}});
    let ids = d.api.send(event.clone()).await;
    d.api.drain().await;
    let run = only_run(d, &ids[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["idempotency_key"], "purch_1");
    assert_eq!(
        step_names(&run),
        [
            "get purchase",
            "get product",
            "get user",
            "grant coupon entitlements for purchase",
            "mark entitlement coupons as used",
            "gather all resource contexts",
            "load resource data for all contexts",
            "ensure org membership",
            "get cohort content access entitlement type for cohort_1",
            "get cohort discord role entitlement type for cohort_1",
            "send-discord-role-event for cohort_1",
            "add cohort discord entitlement for cohort_1",
            "add user to cohort via entitlement for cohort_1",
            "send welcome email to individual for cohort_1",
        ]
    );
    // The three lookups are read steps: no commit of their own, all three recorded by one transaction (the
    // next write's). As `step.run`s each would be a commit, one after the other.
    t.assert_recorded_together(
        run["id"].as_str().unwrap(),
        &["get purchase", "get product", "get user"],
    )
    .await;
    let marked = &step(&run, "mark entitlement coupons as used")["output"];
    assert_eq!(marked["marked"], 1, "{marked}");
    assert_eq!(marked["couponIds"], json!(["coupon_credit", "coupon_gone"]));
    assert_eq!(
        live_entitlements(t, "u1", "apply_special_credit").await,
        0,
        "the used credit is soft-deleted"
    );
    assert_eq!(
        t.count(
            "SELECT COUNT(*) AS n FROM entitlements WHERE source_id = 'coupon_credit'",
            &[]
        )
        .await,
        1,
        "never hard-deleted"
    );
    // Access to every workshop and lesson of the cohort, in Ada's personal organization.
    assert_eq!(live_entitlements(t, "u1", "cohort_content_access").await, 4);
    let personal = "org_personal_u1".to_string();
    assert_eq!(
        t.count(
            "SELECT COUNT(*) AS n FROM entitlements WHERE user_id = 'u1' AND source_type = 'PURCHASE' \
             AND source_id = 'purch_1' AND organization_id = $1 AND organization_membership_id IS NOT NULL",
            &[&personal],
        )
        .await,
        5
    );
    assert!(has_role(t, &personal, "u1", "learner").await);
    assert_eq!(live_entitlements(t, "u1", "cohort_discord_role").await, 1);
    assert_eq!(
        t.count(
            "SELECT COUNT(*) AS n FROM entitlements WHERE metadata LIKE $1",
            &[&format!("%{COHORT_ROLE}%")]
        )
        .await,
        1
    );
    assert_eq!(
        events_named(
            t,
            "coupon/grant-entitlements-for-purchase",
            "%\"purchaseId\":\"purch_1\"%"
        )
        .await,
        1
    );
    assert_eq!(
        events_named(
            t,
            "discord/user-added-to-cohort",
            &format!("%\"discordRoleId\":\"{COHORT_ROLE}\"%")
        )
        .await,
        1
    );
    let mails = w.sink.received();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["ada@example.com"]);
    let m = text(&mails[0].data);
    assert!(m.contains("Subject: Welcome to Cohort One!"), "{m}");
    assert!(m.contains("Reply-To: support@example.com"), "{m}");
    assert!(m.contains("Message-ID: <") && m.contains("@ingot>"), "{m}");
    assert!(m.contains("Hi Ada,") && m.contains("for 1 seat"), "{m}");
    // Day one (ws_a) is in the past: the link goes to the day-one workshop.
    assert!(m.contains("Day one unlocks on January 6th, 2020."), "{m}");
    assert!(m.contains("Start here: https://aihero.dev/workshops/workshop-a"), "{m}");
    let out = &run["output"];
    assert_eq!(
        (
            out["isTeamPurchase"].clone(),
            out["isFullPriceCouponRedemption"].clone()
        ),
        (json!(false), json!(false))
    );
    assert_eq!(out["resourceContexts"][0]["resourceId"], "cohort_1");

    // A replay (same purchase, a new event) starts nothing and changes nothing.
    let again = d.api.send(event).await;
    d.api.drain().await;
    let skipped = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(skipped["run_ids"], json!([]));
    assert_eq!(skipped["skipped"][0]["reason"], "idempotency_key");
    assert_eq!(live_entitlements(t, "u1", "cohort_content_access").await, 4);
    assert_eq!(w.sink.received().len(), 1);
    assert_eq!(
        t.count(
            "SELECT COUNT(*) AS n FROM events WHERE name = 'discord/user-added-to-cohort'",
            &[]
        )
        .await,
        1
    );
}

both!(
    workshop_purchase_in_an_organization_by_the_original_event_name,
    workshop_org_impl
);
async fn workshop_org_impl(b: Backend) {
    // No Stripe configured; a Restricted (PPP) purchase made for the team organization; no Discord role.
    let w = world(b, false, None).await;
    let (t, d) = (&w.t, &w.d);
    let mut p = new_purchase("purch_ws", "u1", "prod_ws", PurchaseStatus::Restricted);
    p.organization_id = Some("org_team".into());
    purchase(t, p).await;
    let ids = d
        .api
        .send(json!({"name": "commerce/new-purchase-created",
            "data": {"purchaseId": "purch_ws", "productType": "self-paced", "checkoutSessionId": "cs_2"}}))
        .await;
    d.api.drain().await;
    let run = only_run(d, &ids[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        step(&run, "mark entitlement coupons as used")["output"]["reason"],
        "No payment provider"
    );
    assert!(
        !step_names(&run).iter().any(|n| n.contains("discord entitlement")),
        "{run}"
    );
    assert_eq!(
        live_entitlements(t, "u1", "workshop_content_access").await,
        2,
        "the workshop and its lesson"
    );
    assert_eq!(
        t.count(
            "SELECT COUNT(*) AS n FROM entitlements WHERE user_id = 'u1' AND organization_id = 'org_team'",
            &[]
        )
        .await,
        2
    );
    assert_eq!(live_entitlements(t, "u1", "workshop_discord_role").await, 0);
    assert!(has_role(t, "org_team", "u1", "learner").await);
    assert_eq!(
        events_named(t, "discord/user-added-to-workshop", "%\"discordRoleId\":null%").await,
        1,
        "the role event is still sent, without a role"
    );
    let mails = w.sink.received();
    assert_eq!(mails.len(), 1);
    let m = text(&mails[0].data);
    assert!(m.contains("Subject: Welcome to Solo Workshop!"), "{m}");
    assert!(
        m.contains("Start here: https://aihero.dev/workshops/solo-workshop"),
        "{m}"
    );
}

// Carol buys 5 seats (a bulk coupon); Ada redeems one with the full-price coupon, into the team organization.
