//! `post-purchase-workflow` end to end against the real daemon: Stripe on wiremock, email to an SMTP sink, the
//! platform's rows read back with SQL. Branches: individual cohort and workshop purchases, organizations, team
//! purchases, full-price seat redemptions, used credit coupons, missing rows, the original event names, replays
//! and a kill -9 while a welcome email is in flight.

use crate::both;
use crate::support::process::{Daemon, base_env};
use crate::support::smtp_sink::{Hold, SmtpSink};
use crate::support::{Backend, TestDb};
use ingot::platform::commerce::PurchaseStatus;
use ingot::platform::commerce::coupons::{self, NewCoupon};
use ingot::platform::commerce::purchases::{self, NewPurchase};
use ingot::platform::{entitlements as ent, organizations};
use ingot::seed::builders;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const COHORT_ROLE: &str = "900000000000000111";

/// The catalogue: a cohort (two workshops with a lesson each) sold with a Discord role, and a workshop (one
/// lesson) sold without one; buyer Ada (u1) and team buyer Carol (u_carol), each with a personal organization.
async fn catalogue(t: &TestDb) {
    let db = &t.db;
    builders::user(db, "u1", "ada@example.com", "Ada Lovelace")
        .await
        .unwrap();
    builders::user(db, "u_carol", "carol@example.com", "Carol Team")
        .await
        .unwrap();
    let starts = json!({"startsAt": "2020-01-06T17:00:00Z"});
    builders::resource(db, "cohort_1", "cohort", "Cohort One", json!({}))
        .await
        .unwrap();
    builders::resource(db, "ws_a", "workshop", "Workshop A", starts)
        .await
        .unwrap();
    builders::resource(db, "ws_b", "workshop", "Workshop B", json!({}))
        .await
        .unwrap();
    builders::resource(db, "lesson_a1", "lesson", "Lesson A1", json!({}))
        .await
        .unwrap();
    builders::resource(db, "lesson_b1", "lesson", "Lesson B1", json!({}))
        .await
        .unwrap();
    builders::children(db, "cohort_1", &["ws_a", "ws_b"]).await.unwrap();
    builders::children(db, "ws_a", &["lesson_a1"]).await.unwrap();
    builders::children(db, "ws_b", &["lesson_b1"]).await.unwrap();
    builders::resource(db, "ws_solo", "workshop", "Solo Workshop", json!({}))
        .await
        .unwrap();
    builders::resource(db, "lesson_s1", "lesson", "Lesson S1", json!({}))
        .await
        .unwrap();
    builders::children(db, "ws_solo", &["lesson_s1"]).await.unwrap();
    builders::product(
        db,
        "prod_cohort",
        "cohort",
        "Cohort One",
        50000,
        json!({"discordRoleId": COHORT_ROLE}),
        &["cohort_1"],
    )
    .await
    .unwrap();
    builders::product(
        db,
        "prod_ws",
        "self-paced",
        "Solo Workshop",
        9900,
        json!({}),
        &["ws_solo"],
    )
    .await
    .unwrap();
    organizations::ensure_organization(db, "org_team", "Team Org")
        .await
        .unwrap();
}

async fn purchase(t: &TestDb, n: NewPurchase) {
    purchases::ensure_purchase(&t.db, &n).await.unwrap();
}

fn new_purchase(id: &str, user: &str, product: &str, status: PurchaseStatus) -> NewPurchase {
    NewPurchase {
        id: id.into(),
        user_id: Some(user.into()),
        product_id: product.into(),
        status: Some(status),
        total_amount_cents: 50000,
        ..NewPurchase::default()
    }
}

struct World {
    t: TestDb,
    d: Daemon,
    sink: SmtpSink,
    _stripe: MockServer,
}

fn env(t: &TestDb, sink: &SmtpSink, stripe: Option<&MockServer>) -> Vec<(String, String)> {
    let mut env = base_env(&t.url);
    env.extend(
        [
            ("SMTP_URL", sink.url()),
            ("EMAIL_FROM", "AI Hero <team@example.com>".into()),
            ("NEXT_PUBLIC_SUPPORT_EMAIL", "support@example.com".into()),
            ("NEXT_PUBLIC_URL", "https://aihero.dev".into()),
            ("NEXT_PUBLIC_SITE_TITLE", "AI Hero".into()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    if let Some(s) = stripe {
        env.push(("STRIPE_SECRET_KEY".into(), "sk_test_1".into()));
        env.push(("STRIPE_API_BASE_URL".into(), s.uri()));
    }
    env
}

async fn world(b: Backend, with_stripe: bool, hold: Option<Arc<Hold>>) -> World {
    let t = TestDb::new(b).await;
    catalogue(&t).await;
    let sink = SmtpSink::start_with_hold(None, None, hold).await;
    let stripe = MockServer::start().await;
    let d = Daemon::start(&env(&t, &sink, with_stripe.then_some(&stripe)));
    World {
        t,
        d,
        sink,
        _stripe: stripe,
    }
}

async fn only_run(d: &Daemon, event_id: &str) -> Value {
    let runs = d.api.runs_of(event_id).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["function_id"], "post-purchase-workflow");
    runs[0].clone()
}

fn step_names(run: &Value) -> Vec<String> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

fn step<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name:?} in {run}"))
}

async fn live_entitlements(t: &TestDb, user: &str, type_name: &str) -> i64 {
    t.count(
        "SELECT COUNT(*) AS n FROM entitlements e JOIN entitlement_types t ON t.id = e.entitlement_type_id \
         WHERE e.user_id = $1 AND t.name = $2 AND e.deleted_at IS NULL",
        &[user, type_name],
    )
    .await
}

async fn events_named(t: &TestDb, name: &str, data_like: &str) -> i64 {
    t.count(
        "SELECT COUNT(*) AS n FROM events WHERE name = $1 AND data LIKE $2",
        &[name, data_like],
    )
    .await
}

async fn has_role(t: &TestDb, org: &str, user: &str, role: &str) -> bool {
    let m = organizations::get_membership(&t.db, org, user)
        .await
        .unwrap()
        .expect("membership");
    organizations::member_role_names(&t.db, &m.id)
        .await
        .unwrap()
        .iter()
        .any(|r| r == role)
}

/// Unfolds quoted-printable soft breaks so the test can search the message text.
fn text(data: &str) -> String {
    data.replace("=\n", "").replace("=3D", "=")
}

both!(individual_cohort_purchase, individual_cohort_impl);
async fn individual_cohort_impl(b: Backend) {
    let w = world(b, true, None).await;
    let (t, d) = (&w.t, &w.d);
    purchase(t, new_purchase("purch_1", "u1", "prod_cohort", PurchaseStatus::Valid)).await;
    // Ada holds a special credit from coupon_credit, which she used at this checkout.
    ent::ensure_credit_entitlement(&t.db, "u1", None, None, "coupon_credit", "prod_other")
        .await
        .unwrap();
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_1"))
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

both!(missing_rows_and_inactive_purchases, missing_impl);
async fn missing_impl(b: Backend) {
    let w = world(b, false, None).await;
    let (t, d) = (&w.t, &w.d);
    let mut no_user = new_purchase("purch_nouser", "u1", "prod_ws", PurchaseStatus::Valid);
    no_user.user_id = None;
    purchase(t, no_user).await;
    purchase(
        t,
        new_purchase("purch_refunded", "u1", "prod_ws", PurchaseStatus::Refunded),
    )
    .await;
    let send = |id: &str| json!({"name": "purchase/created", "data": {"purchaseId": id, "productType": "self-paced"}});
    let ids = d
        .api
        .send(
            json!([send("purch_ghost"), send("purch_nouser"), send("purch_refunded"),
            {"name": "purchase/created", "data": {"purchaseId": "purch_live", "productType": "live"}}]),
        )
        .await;
    d.api.drain().await;
    for (i, (failed_step, message)) in [
        ("get purchase", "purchase not found"),
        ("get user", "purch_nouser has no user"),
    ]
    .into_iter()
    .enumerate()
    {
        let run = only_run(d, &ids[i]).await;
        assert_eq!(run["status"], "failed", "{run}");
        let s = step(&run, failed_step);
        assert_eq!(s["attempts"], 1, "non-retriable: {s}");
        assert_eq!(s["error"]["name"], "NonRetriableError");
        assert!(run["error"]["message"].as_str().unwrap().contains(message), "{run}");
    }
    // A refunded purchase: nothing granted, nothing sent.
    let run = only_run(d, &ids[2]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert!(!step_names(&run).contains(&"ensure org membership".to_string()));
    assert_eq!(t.count("SELECT COUNT(*) AS n FROM entitlements", &[]).await, 0);
    assert!(w.sink.received().is_empty());
    // A live-event purchase is not this workflow's.
    assert_eq!(d.api.runs_of(&ids[3]).await.len(), 0);
}

// kill -9 while the welcome email is in flight (the SMTP server holds it), then restart on the same database:
// the run completes with one email, and no entitlement or event twice.
both!(kill_while_emailing_then_restart, kill_impl);
async fn kill_impl(b: Backend) {
    let hold = Hold::armed();
    let w = world(b, true, Some(hold.clone())).await;
    let World { t, d, sink, _stripe } = w;
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_k"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "cs_k", "metadata": {}})))
        .mount(&_stripe)
        .await;
    purchase(&t, new_purchase("purch_k", "u1", "prod_cohort", PurchaseStatus::Valid)).await;
    let ids = d
        .api
        .send(json!({"name": "purchase/created",
            "data": {"purchaseId": "purch_k", "productType": "cohort", "checkoutSessionId": "cs_k"}}))
        .await;
    tokio::time::timeout(Duration::from_secs(60), hold.held.notified())
        .await
        .expect("the email reached the SMTP server");
    d.kill9();
    assert!(sink.received().is_empty());
    assert_eq!(
        live_entitlements(&t, "u1", "cohort_content_access").await,
        4,
        "granted before the kill"
    );

    let d = Daemon::start(&env(&t, &sink, Some(&_stripe)));
    d.api.drain().await;
    let run = only_run(&d, &ids[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    for s in run["steps"].as_array().unwrap() {
        assert_eq!(s["attempts"], 1, "every step completed once: {s}");
    }
    assert_eq!(sink.received().len(), 1, "one email");
    assert_eq!(live_entitlements(&t, "u1", "cohort_content_access").await, 4);
    assert_eq!(live_entitlements(&t, "u1", "cohort_discord_role").await, 1);
    assert_eq!(
        t.count(
            "SELECT COUNT(*) AS n FROM events WHERE name = 'discord/user-added-to-cohort'",
            &[]
        )
        .await,
        1
    );
    assert_eq!(
        t.count(
            "SELECT COUNT(*) AS n FROM events WHERE name = 'coupon/grant-entitlements-for-purchase'",
            &[]
        )
        .await,
        1
    );
}

// Stripe failing for a moment retries the step; a session Stripe does not know is skipped.
both!(stripe_outage_retries_and_unknown_session_skips, stripe_impl);
async fn stripe_impl(b: Backend) {
    let w = world(b, true, None).await;
    let (t, d) = (&w.t, &w.d);
    ent::ensure_credit_entitlement(&t.db, "u1", None, None, "coupon_credit", "prod_other")
        .await
        .unwrap();
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_flaky"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": {"message": "down"}})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&w._stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_flaky"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "cs_flaky", "metadata": {"usedEntitlementCouponIds": "coupon_credit"},
        })))
        .mount(&w._stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_unknown"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"error": {"message": "No such checkout.session"}})),
        )
        .mount(&w._stripe)
        .await;
    purchase(t, new_purchase("purch_a", "u1", "prod_ws", PurchaseStatus::Valid)).await;
    purchase(t, new_purchase("purch_b", "u_carol", "prod_ws", PurchaseStatus::Valid)).await;
    let ids = d
        .api
        .send(json!([
            {"name": "purchase/created", "data": {"purchaseId": "purch_a", "productType": "self-paced", "checkoutSessionId": "cs_flaky"}},
            {"name": "purchase/created", "data": {"purchaseId": "purch_b", "productType": "self-paced", "checkoutSessionId": "cs_unknown"}},
        ]))
        .await;
    d.api.drain().await;
    let run = only_run(d, &ids[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    let s = step(&run, "mark entitlement coupons as used");
    assert_eq!(
        (s["attempts"].as_i64(), s["output"]["marked"].as_i64()),
        (Some(2), Some(1)),
        "{s}"
    );
    assert_eq!(live_entitlements(t, "u1", "apply_special_credit").await, 0);
    let run = only_run(d, &ids[1]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        step(&run, "mark entitlement coupons as used")["output"]["reason"],
        "Checkout session not found"
    );
    assert_eq!(live_entitlements(t, "u_carol", "workshop_content_access").await, 2);
}
