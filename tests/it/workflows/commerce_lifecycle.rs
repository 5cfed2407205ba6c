//! Issue 11 lifecycle scenarios, each one test:
//! 1. a cohort bought through the signed Stripe webhook, then `charge.refunded`: purchase Refunded, entitlements
//!    soft-deleted, the Discord role DELETEd, the calendar step skipped (a cohort is not a live event: the design
//!    removes calendar attendance for live events only), the welcome email not sent again; the refund delivered
//!    again records and starts nothing;
//! 2. a buyer whose Discord account is already linked gets the role PATCHed right after purchase (cohort and
//!    workshop);
//! 3. a team purchase, a seat redeemed by a second user, that seat transferred to a third user: access, roles and
//!    memberships end where they should and nowhere else (on the demo's team here; from the signed Stripe webhook
//!    in `commerce_team_lifecycle.rs`).

use super::commerce_bed::{Bed, MANUAL_ROLE};
use super::fake_discord::FakeDiscord;
use super::harness::{Checkout, completed_event, env, post_webhook, texts};
use super::product_transfer::{TARGET, TARGET_DISCORD, hand_over, target, transfer};
use crate::both;
use crate::support::process::Daemon;
use crate::support::smtp_sink::SmtpSink;
use crate::support::{Api, Backend, TestDb};
use ingot::platform::entitlements::{self, Grant};
use ingot::seed::builders;
use ingot::seed::demo::{self, ids};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(super) const BUYER: &str = "u_life";
pub(super) const BUYER_DISCORD: &str = "life-discord";
const WORKSHOP_ROLE: &str = "role_workshop_buyers";

pub(super) struct World {
    pub(super) db: TestDb,
    pub(super) discord: FakeDiscord,
    pub(super) sink: SmtpSink,
    pub(super) stripe: MockServer,
    pub(super) d: Daemon,
}

/// The demo, a linked buyer in the guild, Stripe answering the checkout sessions, SMTP, Discord.
pub(super) async fn world(b: Backend, sessions: &[&Checkout]) -> World {
    let db = TestDb::new(b).await;
    demo::load(&db.db).await.unwrap();
    builders::user(&db.db, BUYER, "life@example.com", "Lee Learner")
        .await
        .unwrap();
    builders::account(&db.db, BUYER, "discord", BUYER_DISCORD)
        .await
        .unwrap();
    let discord = FakeDiscord::start().await;
    discord.add_member(BUYER_DISCORD, &[MANUAL_ROLE]);
    let (stripe, sink) = (MockServer::start().await, SmtpSink::start(None, None).await);
    for c in sessions {
        Mock::given(method("GET"))
            .and(path(c.path()))
            .respond_with(ResponseTemplate::new(200).set_body_json(c.session_json()))
            .mount(&stripe)
            .await;
    }
    let mut e = env(&db.url, &stripe.uri(), &sink.url());
    e.extend(discord.env());
    e.push(("DISCORD_PURCHASER_ROLE_ID".into(), WORKSHOP_ROLE.into()));
    let d = Daemon::start(&e);
    World {
        db,
        discord,
        sink,
        stripe,
        d,
    }
}

pub(super) async fn buy(api: &Api, event_id: &str, session: &str) -> String {
    post_webhook(api, &completed_event(event_id, session, "payment", "paid")).await;
    api.drain_all().await;
    let runs = api.runs_of_function("stripe-checkout-session-completed").await;
    let run = &runs[0]; // newest first
    assert_eq!(run["status"], "completed", "{run}");
    texts_purchase(run)
}

fn texts_purchase(run: &Value) -> String {
    run["output"]["purchase"]["id"].as_str().unwrap().to_string()
}

fn refunded(event_id: &str, charge: &str) -> Value {
    json!({"id": event_id, "object": "event", "type": "charge.refunded", "api_version": "2024-06-20",
           "data": {"object": {"id": charge, "object": "charge", "amount": 50_000, "amount_refunded": 50_000,
                               "refunded": true}}})
}

pub(super) async fn live_of(db: &TestDb, purchase: &str) -> i64 {
    db.count(
        "SELECT COUNT(*) AS n FROM entitlements WHERE source_type = 'PURCHASE' AND source_id = $1 AND deleted_at IS NULL",
        &[purchase],
    )
    .await
}

both!(cohort_purchase_then_stripe_refund, refund_lifecycle_impl);
async fn refund_lifecycle_impl(b: Backend) {
    let c = Checkout::new("cs_life", "life@example.com", "stripe_prod_demo_cohort", 50_000);
    let w = world(b, &[&c]).await;
    let purchase = buy(&w.d.api, "evt_life_buy", "cs_life").await;
    assert_eq!(
        live_of(&w.db, &purchase).await,
        10,
        "nine content accesses and the Discord role"
    );
    assert_eq!(
        w.discord.roles(BUYER_DISCORD).unwrap(),
        [MANUAL_ROLE, ids::DISCORD_COHORT_ROLE]
    );
    assert_eq!(w.sink.received().len(), 1, "the welcome email");

    // Stripe: the charge is refunded in full.
    let ids_ = post_webhook(&w.d.api, &refunded("evt_life_refund", &c.charge)).await;
    assert_eq!(
        ids_.len(),
        2,
        "stripe/refund-processed and commerce/update-purchase-status"
    );
    w.d.api.drain_all().await;
    let mut finished = Vec::new();
    for id in &ids_ {
        for r in w.d.api.runs_of(id).await {
            assert_eq!(r["status"], "completed", "{r}");
            finished.push((r["function_id"].as_str().unwrap().to_string(), r["output"].clone()));
        }
    }
    finished.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = finished.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "handle-refund-remove-calendar",
            "refund-entitlements",
            "remove-purchase-role-discord",
            "update-purchase-status"
        ]
    );
    assert_eq!(
        finished[0].1["outcome"], "skipped",
        "a cohort has no calendar event: {:?}",
        finished[0]
    );
    assert_eq!(
        texts(&w.db, "SELECT status AS t FROM purchases WHERE id = $1", &[&purchase]).await,
        ["Refunded"]
    );
    assert_eq!(live_of(&w.db, &purchase).await, 0, "every entitlement soft-deleted");
    assert_eq!(
        w.db.count(
            "SELECT COUNT(*) AS n FROM entitlements WHERE source_id = $1",
            &[&purchase]
        )
        .await,
        10,
        "soft, never hard"
    );
    assert_eq!(w.discord.roles(BUYER_DISCORD).unwrap(), [MANUAL_ROLE]);
    assert_eq!(
        w.discord.with_method("DELETE"),
        [(
            FakeDiscord::role_path(BUYER_DISCORD, ids::DISCORD_COHORT_ROLE),
            Value::Null
        )]
    );
    assert_eq!(w.sink.received().len(), 1, "no email sent again");
    assert_eq!(w.db.count("SELECT COUNT(*) AS n FROM merchant_events", &[]).await, 2);

    // Stripe delivers the refund again: recorded before, so nothing is stored and nothing runs.
    let (runs, events) = (
        w.db.count("SELECT COUNT(*) AS n FROM runs", &[]).await,
        w.db.count("SELECT COUNT(*) AS n FROM events", &[]).await,
    );
    assert!(
        post_webhook(&w.d.api, &refunded("evt_life_refund", &c.charge))
            .await
            .is_empty()
    );
    w.d.api.drain_all().await;
    assert_eq!(w.db.count("SELECT COUNT(*) AS n FROM runs", &[]).await, runs);
    assert_eq!(w.db.count("SELECT COUNT(*) AS n FROM events", &[]).await, events);
    assert_eq!(w.db.count("SELECT COUNT(*) AS n FROM merchant_events", &[]).await, 2);
    assert_eq!(w.discord.with_method("DELETE").len(), 1);
    let _ = &w.stripe;
}

both!(linked_buyer_gets_the_role_right_after_purchase, linked_impl);
async fn linked_impl(b: Backend) {
    let cohort = Checkout::new("cs_linked_c", "life@example.com", "stripe_prod_demo_cohort", 50_000);
    let workshop = Checkout::new("cs_linked_w", "life@example.com", "stripe_prod_demo_workshop", 19_900);
    let w = world(b, &[&cohort, &workshop]).await;
    buy(&w.d.api, "evt_linked_c", "cs_linked_c").await;
    assert_eq!(
        w.discord.roles(BUYER_DISCORD).unwrap(),
        [MANUAL_ROLE, ids::DISCORD_COHORT_ROLE]
    );
    post_webhook(
        &w.d.api,
        &completed_event("evt_linked_w", "cs_linked_w", "payment", "paid"),
    )
    .await;
    w.d.api.drain_all().await;
    assert_eq!(
        w.discord.roles(BUYER_DISCORD).unwrap(),
        [MANUAL_ROLE, ids::DISCORD_COHORT_ROLE, WORKSHOP_ROLE]
    );
    let member = FakeDiscord::member_path(BUYER_DISCORD);
    assert_eq!(
        w.discord.with_method("PATCH"),
        [
            (
                member.clone(),
                json!({"roles": [MANUAL_ROLE, ids::DISCORD_COHORT_ROLE]})
            ),
            (
                member,
                json!({"roles": [MANUAL_ROLE, ids::DISCORD_COHORT_ROLE, WORKSHOP_ROLE]})
            ),
        ]
    );
    let runs = w.d.api.runs_of_function("add-discord-role-workflow").await;
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["status"] == "completed"));
}

both!(team_seat_transferred_to_a_third_user, team_transfer_impl);
async fn team_transfer_impl(b: Backend) {
    // Carol's team purchase (demo) and Dave's redeemed seat, with the Discord role the seat gave him.
    let bed = Bed::new(b).await;
    target(&bed).await;
    builders::account(&bed.db.db, ids::DAVE, "discord", "dave-discord")
        .await
        .unwrap();
    bed.discord
        .add_member("dave-discord", &[MANUAL_ROLE, ids::DISCORD_COHORT_ROLE]);
    let role_type = entitlements::require_entitlement_type(&bed.db.db, "cohort_discord_role")
        .await
        .unwrap();
    let dave_m = bed
        .count(
            "SELECT COUNT(*) AS n FROM organization_memberships WHERE user_id = $1 AND organization_id = $2",
            &[ids::DAVE, ids::TEAM_ORG],
        )
        .await;
    assert_eq!(dave_m, 1);
    let grant = Grant {
        user_id: ids::DAVE.into(),
        purchase_id: ids::PURCHASE_DAVE_SEAT.into(),
        organization_id: Some(ids::TEAM_ORG.into()),
        organization_membership_id: None,
        content_access_type_id: role_type.id.clone(),
    };
    entitlements::ensure_discord_role_entitlement(
        &bed.db.db,
        &grant,
        &role_type.id,
        ids::COHORT,
        ids::DISCORD_COHORT_ROLE,
    )
    .await
    .unwrap();
    assert_eq!(bed.live_of_purchase(ids::PURCHASE_DAVE_SEAT).await.len(), 10);
    let (carol_before, alice_before) = (bed.memberships(ids::CAROL).await, bed.live(ids::ALICE).await);

    hand_over(&bed, ids::PURCHASE_DAVE_SEAT, TARGET).await;
    let d = bed.start();
    let run = transfer(
        &d.api,
        "purchase/transferred",
        json!({"purchaseId": ids::PURCHASE_DAVE_SEAT, "fromUserId": ids::DAVE, "toUserId": TARGET}),
        "product-transfer-workflow",
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    assert!(super::harness::step_names(&run).contains(&"remove source user from team organization".to_string()));

    // Access: the third user holds the seat's entitlements, Dave none.
    let after = bed.live_of_purchase(ids::PURCHASE_DAVE_SEAT).await;
    assert_eq!(after.len(), 10, "{after:?}");
    assert!(after.iter().all(|e| e.starts_with(&format!("{TARGET}:"))), "{after:?}");
    assert!(bed.live(ids::DAVE).await.is_empty());
    // Memberships: the third user joined the team as learner (the seat stays in the team); Dave left it; Carol
    // is still its owner; the team purchase and its coupon are untouched.
    let team_memberships: Vec<String> = bed
        .memberships(TARGET)
        .await
        .into_iter()
        .filter(|m| m.starts_with(ids::TEAM_ORG))
        .collect();
    assert_eq!(team_memberships, [format!("{}:learner", ids::TEAM_ORG)]);
    assert!(
        !bed.memberships(ids::DAVE)
            .await
            .iter()
            .any(|m| m.starts_with(ids::TEAM_ORG))
    );
    assert_eq!(bed.memberships(ids::CAROL).await, carol_before);
    assert_eq!(
        bed.count(
            "SELECT COUNT(*) AS n FROM purchases WHERE id = $1 AND organization_id = $2",
            &[ids::PURCHASE_DAVE_SEAT, ids::TEAM_ORG]
        )
        .await,
        1
    );
    assert_eq!(bed.status(ids::PURCHASE_CAROL_TEAM).await, "Valid");
    assert_eq!(
        bed.count(
            "SELECT CAST(status AS BIGINT) AS n FROM coupons WHERE id = $1",
            &[ids::TEAM_COUPON]
        )
        .await,
        1
    );
    // Roles: Dave's cohort role DELETEd, the third user's PATCHed in; Alice untouched.
    assert_eq!(bed.discord.roles("dave-discord").unwrap(), [MANUAL_ROLE]);
    assert_eq!(bed.discord.roles(TARGET_DISCORD).unwrap(), [ids::DISCORD_COHORT_ROLE]);
    assert_eq!(
        bed.discord.roles(ids::ALICE_DISCORD_ID).unwrap(),
        [MANUAL_ROLE, ids::DISCORD_COHORT_ROLE]
    );
    assert_eq!(bed.live(ids::ALICE).await, alice_before);
}
