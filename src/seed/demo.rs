//! The demo catalogue (`ingot seed demo`):
//!
//! - a Stripe merchant account, a PPP merchant coupon and a special-credit merchant coupon;
//! - a cohort product selling a cohort of three workshops (the first has two sections of lessons, and an
//!   access email attached);
//! - a self-paced workshop product; a live event product (a single event) and a live event-series product (two
//!   events);
//! - users with OAuth accounts (Alice has Discord); purchases in every status; a team purchase with its bulk
//!   coupon in a team organization and a seat redeemed from it; special-credit coupons and a credit;
//! - entitlements for the purchases that grant access (as the post-purchase workflow would), and a shortlink.
//!
//! Ids are fixed ([`ids`]) and every write is find-or-create, so loading twice changes nothing.

use super::builders;
use crate::platform::commerce::PurchaseStatus;
use crate::platform::commerce::coupons::{self, NewCoupon};
use crate::platform::commerce::merchants;
use crate::platform::commerce::product_types::ProductType;
use crate::platform::commerce::purchases::{self, NewPurchase};
use crate::platform::content;
use crate::platform::entitlements::{self, Grant};
use crate::platform::{Error, Result, organizations, shortlinks};
use crate::store::Db;
use serde::Serialize;
use serde_json::json;

/// The demo's fixed ids.
pub mod ids {
    pub const MERCHANT_ACCOUNT: &str = "ma_demo_stripe";
    pub const ALICE: &str = "u_demo_alice";
    pub const BOB: &str = "u_demo_bob";
    pub const CAROL: &str = "u_demo_carol";
    pub const DAVE: &str = "u_demo_dave";
    pub const ERIN: &str = "u_demo_erin";
    pub const FRANK: &str = "u_demo_frank";
    pub const GRACE: &str = "u_demo_grace";
    pub const TEAM_ORG: &str = "org_demo_team";

    pub const COHORT: &str = "cohort_demo_ai_engineering";
    pub const WORKSHOPS: [&str; 3] = [
        "workshop_demo_foundations",
        "workshop_demo_agents",
        "workshop_demo_evals",
    ];
    pub const SECTIONS: [&str; 2] = ["section_demo_prompting", "section_demo_retrieval"];
    pub const LESSONS: [&str; 4] = [
        "lesson_demo_first_prompt",
        "lesson_demo_structured_output",
        "lesson_demo_embeddings",
        "lesson_demo_rag",
    ];
    pub const ACCESS_EMAIL: &str = "email_demo_foundations_access";
    pub const SELF_PACED_WORKSHOP: &str = "workshop_demo_self_paced_typescript";
    pub const EVENT: &str = "event_demo_office_hours";
    pub const EVENT_SERIES: &str = "event_series_demo_live_build";
    pub const SERIES_EVENTS: [&str; 2] = ["event_demo_live_build_day_1", "event_demo_live_build_day_2"];

    pub const PRODUCT_COHORT: &str = "prod_demo_cohort";
    pub const PRODUCT_WORKSHOP: &str = "prod_demo_workshop";
    pub const PRODUCT_EVENT: &str = "prod_demo_event";
    pub const PRODUCT_EVENT_SERIES: &str = "prod_demo_event_series";

    pub const PURCHASE_ALICE_COHORT: &str = "purch_demo_alice_cohort";
    pub const PURCHASE_ALICE_EVENT: &str = "purch_demo_alice_event";
    pub const PURCHASE_BOB_WORKSHOP: &str = "purch_demo_bob_workshop";
    pub const PURCHASE_CAROL_TEAM: &str = "purch_demo_carol_team";
    pub const PURCHASE_DAVE_SEAT: &str = "purch_demo_dave_seat";
    pub const PURCHASE_ERIN_REFUNDED: &str = "purch_demo_erin_refunded";
    pub const PURCHASE_FRANK_DISPUTED: &str = "purch_demo_frank_disputed";
    pub const PURCHASE_GRACE_BANNED: &str = "purch_demo_grace_banned";

    pub const TEAM_COUPON: &str = "coupon_demo_team_carol";
    pub const CREDIT_COUPON_WORKSHOP: &str = "coupon_demo_credit_workshop";
    pub const CREDIT_COUPON_PPP: &str = "coupon_demo_credit_workshop_ppp";
    pub const MERCHANT_COUPON_PPP: &str = "stripe_coupon_demo_ppp";
    pub const MERCHANT_COUPON_CREDIT: &str = "stripe_coupon_demo_special_credit_199";
    pub const DISCORD_COHORT_ROLE: &str = "900000000000000001";
    pub const ALICE_DISCORD_ID: &str = "100000000000000001";
}

/// What the demo contains, for the command line.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    pub users: usize,
    pub products: usize,
    pub purchases: usize,
    pub entitlements_granted: usize,
}

/// Loads the demo catalogue (find-or-create; loading again changes nothing).
pub async fn load(db: &Db) -> Result<DemoSummary> {
    use ids::*;
    merchants::ensure_merchant_account(db, MERCHANT_ACCOUNT, "stripe", Some("acct_demo")).await?;

    // People.
    let people = [
        (ALICE, "alice@example.com", "Alice Cohort"),
        (BOB, "bob@example.com", "Bob Selfpaced"),
        (CAROL, "carol@example.com", "Carol Teamlead"),
        (DAVE, "dave@example.com", "Dave Seat"),
        (ERIN, "erin@example.com", "Erin Refund"),
        (FRANK, "frank@example.com", "Frank Dispute"),
        (GRACE, "grace@example.com", "Grace Banned"),
    ];
    for (id, email, name) in people {
        builders::user(db, id, email, name).await?;
        builders::account(db, id, "github", &format!("gh-{id}")).await?;
    }
    builders::account(db, ALICE, "discord", ALICE_DISCORD_ID).await?;

    // Content: a cohort of three workshops, the first with sections of lessons and an access email.
    let starts = [
        "2026-12-01T17:00:00.000Z",
        "2026-12-08T17:00:00.000Z",
        "2026-12-15T17:00:00.000Z",
    ];
    builders::resource(
        db,
        COHORT,
        "cohort",
        "AI Engineering Cohort",
        json!({"startsAt": starts[0]}),
    )
    .await?;
    let titles = ["Foundations", "Building Agents", "Evals in Practice"];
    for ((id, title), starts_at) in WORKSHOPS.iter().zip(titles).zip(starts) {
        builders::resource(db, id, "workshop", title, json!({"startsAt": starts_at})).await?;
    }
    builders::children(db, COHORT, &WORKSHOPS).await?;
    builders::resource(db, SECTIONS[0], "section", "Prompting", json!({})).await?;
    builders::resource(db, SECTIONS[1], "section", "Retrieval", json!({})).await?;
    let lesson_titles = ["Your First Prompt", "Structured Output", "Embeddings", "RAG End to End"];
    for (id, title) in LESSONS.iter().zip(lesson_titles) {
        builders::resource(db, id, "lesson", title, json!({})).await?;
    }
    builders::resource(
        db,
        ACCESS_EMAIL,
        "email",
        "Foundations opens today",
        json!({"body": "Welcome in!"}),
    )
    .await?;
    builders::children(db, WORKSHOPS[0], &[SECTIONS[0], SECTIONS[1], ACCESS_EMAIL]).await?;
    builders::children(db, SECTIONS[0], &LESSONS[..2]).await?;
    builders::children(db, SECTIONS[1], &LESSONS[2..]).await?;
    builders::resource(db, SELF_PACED_WORKSHOP, "workshop", "TypeScript for AI", json!({})).await?;
    builders::resource(db, "lesson_demo_ts_setup", "lesson", "Setup", json!({})).await?;
    builders::children(db, SELF_PACED_WORKSHOP, &["lesson_demo_ts_setup"]).await?;
    let event_fields = |start: &str, end: &str, cal: &str| json!({"startsAt": start, "endsAt": end, "timezone": "America/Los_Angeles", "calendarId": cal});
    let office = event_fields(
        "2026-12-03T18:00:00.000Z",
        "2026-12-03T19:00:00.000Z",
        "gcal_demo_office_hours",
    );
    builders::resource(db, EVENT, "event", "Office Hours", office).await?;
    builders::resource(db, EVENT_SERIES, "event-series", "Live Build Week", json!({})).await?;
    let day1 = event_fields(
        "2026-12-10T18:00:00.000Z",
        "2026-12-10T20:00:00.000Z",
        "gcal_demo_day_1",
    );
    let day2 = event_fields(
        "2026-12-11T18:00:00.000Z",
        "2026-12-11T20:00:00.000Z",
        "gcal_demo_day_2",
    );
    builders::resource(db, SERIES_EVENTS[0], "event", "Live Build Day 1", day1).await?;
    builders::resource(db, SERIES_EVENTS[1], "event", "Live Build Day 2", day2).await?;
    builders::children(db, EVENT_SERIES, &SERIES_EVENTS).await?;

    // Products, each with a price and a Stripe product.
    let cohort_fields = json!({"discordRoleId": DISCORD_COHORT_ROLE});
    let catalogue = [
        (
            PRODUCT_COHORT,
            "cohort",
            "AI Engineering Cohort",
            50_000,
            cohort_fields,
            COHORT,
        ),
        (
            PRODUCT_WORKSHOP,
            "self-paced",
            "TypeScript for AI",
            19_900,
            json!({}),
            SELF_PACED_WORKSHOP,
        ),
        (PRODUCT_EVENT, "live", "Office Hours", 5_000, json!({}), EVENT),
        (
            PRODUCT_EVENT_SERIES,
            "live",
            "Live Build Week",
            15_000,
            json!({}),
            EVENT_SERIES,
        ),
    ];
    for (id, kind, name, cents, fields, resource) in &catalogue {
        builders::product(db, id, kind, name, *cents, fields.clone(), &[resource]).await?;
        let stripe_id = format!("stripe_{id}");
        merchants::ensure_merchant_product(db, &format!("mp_{id}"), MERCHANT_ACCOUNT, id, &stripe_id).await?;
    }

    // Coupons: PPP and special credit in Stripe; special-credit coupons for workshop buyers.
    merchants::ensure_merchant_coupon(db, MERCHANT_ACCOUNT, MERCHANT_COUPON_PPP, "ppp", Some(0.5), None).await?;
    let credit = merchants::ensure_merchant_coupon(
        db,
        MERCHANT_ACCOUNT,
        MERCHANT_COUPON_CREDIT,
        "special credit",
        None,
        Some(19_900),
    )
    .await?;
    let eligibility = json!({"stackable": true, "eligibilityCondition": {"type": "hasValidProductPurchase", "productId": PRODUCT_WORKSHOP}});
    for (id, cents, merchant) in [
        (CREDIT_COUPON_WORKSHOP, 19_900, Some(credit.id.clone())),
        (CREDIT_COUPON_PPP, 9_950, None),
    ] {
        coupons::ensure_coupon(
            db,
            &NewCoupon {
                id: id.into(),
                fields: eligibility.clone(),
                max_uses: -1,
                merchant_coupon_id: merchant,
                amount_discount_cents: Some(cents),
                ..NewCoupon::default()
            },
        )
        .await?;
    }

    // Purchases in every status.
    use PurchaseStatus::*;
    builders::purchase(db, PURCHASE_ALICE_COHORT, ALICE, PRODUCT_COHORT, Valid, 50_000).await?;
    builders::purchase(db, PURCHASE_ALICE_EVENT, ALICE, PRODUCT_EVENT, Valid, 5_000).await?;
    builders::purchase(db, PURCHASE_BOB_WORKSHOP, BOB, PRODUCT_WORKSHOP, Restricted, 9_950).await?;
    builders::purchase(db, PURCHASE_ERIN_REFUNDED, ERIN, PRODUCT_WORKSHOP, Refunded, 19_900).await?;
    builders::purchase(db, PURCHASE_FRANK_DISPUTED, FRANK, PRODUCT_EVENT, Disputed, 5_000).await?;
    builders::purchase(db, PURCHASE_GRACE_BANNED, GRACE, PRODUCT_EVENT_SERIES, Banned, 15_000).await?;

    // A team purchase of five cohort seats in Carol's team organization; Dave redeemed one.
    let team = organizations::ensure_organization(db, TEAM_ORG, "Acme AI Team").await?;
    let carol_m = organizations::add_member_to_organization(db, &team.id, CAROL, CAROL).await?;
    organizations::add_role_for_member(db, &team.id, &carol_m.id, "owner").await?;
    coupons::ensure_coupon(
        db,
        &NewCoupon {
            id: TEAM_COUPON.into(),
            organization_id: Some(team.id.clone()),
            fields: json!({}),
            max_uses: 5,
            percentage_discount: Some(1.0),
            restricted_to_product_id: Some(PRODUCT_COHORT.into()),
            ..NewCoupon::default()
        },
    )
    .await?;
    let team_purchase = |id: &str, user: &str, cents: i64, bulk: Option<&str>, redeemed: Option<&str>| NewPurchase {
        id: id.into(),
        user_id: Some(user.into()),
        product_id: PRODUCT_COHORT.into(),
        organization_id: Some(team.id.clone()),
        total_amount_cents: cents,
        bulk_coupon_id: bulk.map(str::to_string),
        redeemed_bulk_coupon_id: redeemed.map(str::to_string),
        ..NewPurchase::default()
    };
    let carol_p = team_purchase(PURCHASE_CAROL_TEAM, CAROL, 250_000, Some(TEAM_COUPON), None);
    purchases::ensure_purchase(db, &carol_p).await?;
    let dave_p = team_purchase(PURCHASE_DAVE_SEAT, DAVE, 0, None, Some(TEAM_COUPON));
    purchases::ensure_purchase(db, &dave_p).await?;
    let dave_m = organizations::add_member_to_organization(db, &team.id, DAVE, CAROL).await?;
    organizations::add_role_for_member(db, &team.id, &dave_m.id, "learner").await?;

    // Entitlements, as fulfilment would grant them.
    let mut granted = 0;
    granted += grant(db, ALICE, PURCHASE_ALICE_COHORT, ProductType::Cohort, COHORT, None).await?;
    granted += grant(
        db,
        BOB,
        PURCHASE_BOB_WORKSHOP,
        ProductType::SelfPaced,
        SELF_PACED_WORKSHOP,
        None,
    )
    .await?;
    granted += grant(
        db,
        DAVE,
        PURCHASE_DAVE_SEAT,
        ProductType::Cohort,
        COHORT,
        Some(&dave_m.id),
    )
    .await?;
    let discord = entitlements::require_entitlement_type(db, "cohort_discord_role").await?;
    let alice = builders::user(db, ALICE, "alice@example.com", "Alice Cohort").await?.1;
    let alice_grant = Grant {
        user_id: ALICE.into(),
        purchase_id: PURCHASE_ALICE_COHORT.into(),
        organization_id: Some(alice.organization.id.clone()),
        organization_membership_id: Some(alice.membership.id.clone()),
        content_access_type_id: discord.id.clone(),
    };
    entitlements::ensure_discord_role_entitlement(db, &alice_grant, &discord.id, COHORT, DISCORD_COHORT_ROLE).await?;
    let bob = builders::user(db, BOB, "bob@example.com", "Bob Selfpaced").await?.1;
    let (bob_o, bob_m) = (Some(bob.organization.id.as_str()), Some(bob.membership.id.as_str()));
    entitlements::ensure_credit_entitlement(db, BOB, bob_o, bob_m, CREDIT_COUPON_PPP, PRODUCT_WORKSHOP).await?;

    shortlinks::ensure_shortlink(
        db,
        "sl_demo_launch",
        "launch",
        "https://example.com/cohorts/ai-engineering",
    )
    .await?;
    Ok(DemoSummary {
        users: people.len(),
        products: catalogue.len(),
        purchases: 8,
        entitlements_granted: granted,
    })
}

/// Grants a purchase's content access in the buyer's organization (their personal one unless a membership is
/// given) with the `learner` role; returns how many entitlements cover it.
async fn grant(
    db: &Db,
    user_id: &str,
    purchase_id: &str,
    product_type: ProductType,
    resource_id: &str,
    membership_id: Option<&str>,
) -> Result<usize> {
    let user = crate::platform::users::get_user(db, user_id)
        .await?
        .ok_or_else(|| Error::not_found("user", user_id))?;
    let (org_id, m_id) = match membership_id {
        Some(m) => (Some(ids::TEAM_ORG.to_string()), m.to_string()),
        None => {
            let p = organizations::ensure_personal_organization_with_learner_role(db, &user).await?;
            (Some(p.organization.id), p.membership.id)
        }
    };
    let ty = entitlements::require_entitlement_type(db, product_type.config().content_access).await?;
    let tree = content::get_resource_tree(db, resource_id)
        .await?
        .ok_or_else(|| Error::not_found("content resource", resource_id))?;
    let grant = Grant {
        user_id: user_id.into(),
        purchase_id: purchase_id.into(),
        organization_id: org_id,
        organization_membership_id: Some(m_id),
        content_access_type_id: ty.id,
    };
    Ok(
        entitlements::create_resource_entitlements(db, product_type, &tree, &grant)
            .await?
            .len(),
    )
}
