//! Issue 11 lifecycle scenario 3 from the signed Stripe webhook: a team purchase of three cohort seats (bulk coupon,
//! no access for the buyer), a seat redeemed by a second user (`coupon/full-price-redeemed`: team membership,
//! access, Discord role), that seat transferred to a third user: only the third user holds the seat's access and
//! role, the seat user left the team, the buyer keeps their ownership and nothing else.

use super::commerce_bed::MANUAL_ROLE;
use super::commerce_lifecycle::{BUYER, BUYER_DISCORD, buy, live_of, world};
use super::harness::{Checkout, texts};
use crate::both;
use crate::support::Backend;
use ingot::seed::builders;
use ingot::seed::demo::ids;
use serde_json::json;

both!(
    team_bought_through_stripe_seat_redeemed_then_transferred,
    team_from_webhook_impl
);
async fn team_from_webhook_impl(b: Backend) {
    use ingot::platform::commerce::purchases::{self, NewPurchase};
    use ingot::platform::organizations;
    const TEAM: &str = "org_life_team";
    const SEAT_USER: &str = "u_seat";
    const THIRD: &str = "u_third";
    let mut c = Checkout::new("cs_team", "life@example.com", "stripe_prod_demo_cohort", 150_000);
    c.quantity = 3;
    c.metadata = json!({"organizationId": TEAM, "bulk": "true"});
    let w = world(b, &[&c]).await;
    // The buyer's team organization (the web app creates it before checkout), a seat user and a third user,
    // both linked to Discord and in the guild.
    organizations::ensure_organization(&w.db.db, TEAM, "Life Team")
        .await
        .unwrap();
    let m = organizations::add_member_to_organization(&w.db.db, TEAM, BUYER, BUYER)
        .await
        .unwrap();
    organizations::add_role_for_member(&w.db.db, TEAM, &m.id, "owner")
        .await
        .unwrap();
    for (id, email, discord) in [
        (SEAT_USER, "seat@example.com", "seat-discord"),
        (THIRD, "third@example.com", "third-discord"),
    ] {
        builders::user(&w.db.db, id, email, "Someone").await.unwrap();
        builders::account(&w.db.db, id, "discord", discord).await.unwrap();
        w.discord.add_member(discord, &[]);
    }

    // 1. The team purchase through the signed webhook: a bulk coupon, no access for the buyer.
    let team_purchase = buy(&w.d.api, "evt_team_buy", "cs_team").await;
    let coupon = texts(
        &w.db,
        "SELECT bulk_coupon_id AS t FROM purchases WHERE id = $1",
        &[&team_purchase],
    )
    .await;
    let coupon = coupon[0].clone();
    assert_eq!(live_of(&w.db, &team_purchase).await, 0, "seats carry the access");

    // 2. A seat redeemed by the second user (the web app's redeem action, then its event).
    purchases::ensure_purchase(
        &w.db.db,
        &NewPurchase {
            id: "purch_seat".into(),
            user_id: Some(SEAT_USER.into()),
            product_id: ids::PRODUCT_COHORT.into(),
            organization_id: Some(TEAM.into()),
            redeemed_bulk_coupon_id: Some(coupon.clone()),
            ..NewPurchase::default()
        },
    )
    .await
    .unwrap();
    w.d.api
        .send(
            json!({"name": "coupon/full-price-redeemed", "data": {"purchaseId": "purch_seat", "productType": "cohort",
                     "checkoutSessionId": "coupon-purch_seat"}, "user": {"id": SEAT_USER}}),
        )
        .await;
    w.d.api.drain_all().await;
    assert_eq!(live_of(&w.db, "purch_seat").await, 10);
    assert_eq!(w.discord.roles("seat-discord").unwrap(), [ids::DISCORD_COHORT_ROLE]);

    // 3. The seat transferred to the third user.
    w.db.exec("UPDATE purchases SET user_id = $1 WHERE id = 'purch_seat'", &[THIRD])
        .await;
    w.d.api
        .send(json!({"name": "purchase/transferred", "data": {"purchaseId": "purch_seat", "fromUserId": SEAT_USER, "toUserId": THIRD}}))
        .await;
    w.d.api.drain_all().await;
    let runs = w.d.api.runs_of_function("product-transfer-workflow").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "completed", "{}", runs[0]);

    // Access: only the third user holds the seat's entitlements; the buyer holds none.
    let holders = texts(
        &w.db,
        "SELECT DISTINCT user_id AS t FROM entitlements WHERE source_id = 'purch_seat' AND deleted_at IS NULL",
        &[],
    )
    .await;
    assert_eq!(holders, [THIRD]);
    assert_eq!(live_of(&w.db, "purch_seat").await, 10);
    assert_eq!(
        w.db.count(
            "SELECT COUNT(*) AS n FROM entitlements WHERE user_id = $1 AND deleted_at IS NULL",
            &[BUYER]
        )
        .await,
        0
    );
    // Memberships in the team: the buyer (owner) and the third user (learner); the seat user left.
    let team_members = texts(
        &w.db,
        "SELECT user_id AS t FROM organization_memberships WHERE organization_id = $1 ORDER BY user_id",
        &[TEAM],
    )
    .await;
    let mut expected = vec![BUYER.to_string(), THIRD.to_string()];
    expected.sort();
    assert_eq!(team_members, expected);
    // Roles: the seat user's cohort role DELETEd, the third user's PATCHed; the buyer never got one.
    assert!(w.discord.roles("seat-discord").unwrap().is_empty());
    assert_eq!(w.discord.roles("third-discord").unwrap(), [ids::DISCORD_COHORT_ROLE]);
    assert_eq!(w.discord.roles(BUYER_DISCORD).unwrap(), [MANUAL_ROLE]);
}
