//! `product-transfer-workflow` and `api-product-transfer-workflow` (issue 11): a cohort purchase moves from Alice
//! to a linked target (source entitlements soft-deleted and Discord role DELETEd, target in their personal
//! organization as learner with content and Discord-role entitlements, the role event PATCHing the target's
//! role); the API variant with the original payload shape moves special credits; the branches that move nothing;
//! a replay that changes nothing.

use super::commerce_bed::{Bed, MANUAL_ROLE};
use super::fake_discord::FakeDiscord;
use super::harness::{emitted, step_names};
use crate::both;
use crate::support::{Api, Backend};
use ingot::seed::builders;
use ingot::seed::demo::ids;
use serde_json::{Value, json};

pub const TARGET: &str = "u_target";
pub const TARGET_DISCORD: &str = "target-discord";
const ROLE: &str = ids::DISCORD_COHORT_ROLE;

pub async fn target(bed: &Bed) {
    builders::user(&bed.db.db, TARGET, "target@example.com", "Tara Target")
        .await
        .unwrap();
    builders::account(&bed.db.db, TARGET, "discord", TARGET_DISCORD)
        .await
        .unwrap();
    bed.discord.add_member(TARGET_DISCORD, &[]);
}

/// The web app's part: the purchase (and its charge) now belong to the target.
pub async fn hand_over(bed: &Bed, purchase: &str, to: &str) {
    bed.db
        .exec("UPDATE purchases SET user_id = $1 WHERE id = $2", &[to, purchase])
        .await;
}

/// Sends the event; returns the transfer run (of `function`) and every run the event's emits started.
pub async fn transfer(api: &Api, name: &str, data: Value, function: &str) -> Value {
    let ids_ = api.send(json!({"name": name, "data": data})).await;
    api.drain_all().await;
    let runs = api.runs_of(&ids_[0]).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["function_id"], function);
    runs[0].clone()
}

both!(a_cohort_purchase_moves_to_the_target, cohort_impl);
async fn cohort_impl(b: Backend) {
    let bed = Bed::new(b).await;
    target(&bed).await;
    let alice_before = bed.live_of_purchase(ids::PURCHASE_ALICE_COHORT).await;
    assert_eq!(
        alice_before.len(),
        10,
        "nine content accesses and the role: {alice_before:?}"
    );
    hand_over(&bed, ids::PURCHASE_ALICE_COHORT, TARGET).await;
    let d = bed.start();
    let data = json!({"purchaseId": ids::PURCHASE_ALICE_COHORT, "fromUserId": ids::ALICE, "toUserId": TARGET});
    let run = transfer(
        &d.api,
        "purchase/transferred",
        data.clone(),
        "product-transfer-workflow",
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        step_names(&run),
        [
            "log transfer initiated",
            "get purchase",
            "get product",
            "get source user",
            "get target user",
            "gather all resource contexts",
            "load resource data for all contexts",
            "get target user organization",
            "move purchase to target user organization",
            "ensure source user organization integrity",
            "get cohort content access entitlement type",
            "get cohort discord role entitlement type",
            "remove entitlements from source user",
            "remove discord role from source user",
            "send-discord-role-event",
            "add entitlements to target user",
            "transfer coupon entitlements",
            "log transfer completed",
        ]
    );
    assert_eq!(run["output"]["transferred"], true);
    assert_eq!(run["output"]["transferSource"], "ui");
    assert_eq!(run["output"]["targetUser"]["id"], TARGET);
    // Access: only the target holds the purchase's entitlements.
    let after = bed.live_of_purchase(ids::PURCHASE_ALICE_COHORT).await;
    assert_eq!(after.len(), 10, "{after:?}");
    assert!(after.iter().all(|e| e.starts_with(&format!("{TARGET}:"))), "{after:?}");
    assert_eq!(after.iter().filter(|e| e.ends_with(":cohort_discord_role")).count(), 1);
    // Membership: the target's personal organization, with learner; the purchase moved there.
    let target_org = format!("org_personal_{TARGET}");
    assert_eq!(bed.memberships(TARGET).await, [format!("{target_org}:learner,owner")]);
    assert_eq!(
        bed.count(
            "SELECT COUNT(*) AS n FROM purchases WHERE id = $1 AND organization_id = $2",
            &[ids::PURCHASE_ALICE_COHORT, &target_org]
        )
        .await,
        1
    );
    // Discord: Alice's cohort role DELETEd (the manual one stays), the target's PATCHed in by the role event.
    assert_eq!(bed.discord.roles(ids::ALICE_DISCORD_ID).unwrap(), [MANUAL_ROLE]);
    assert_eq!(bed.discord.roles(TARGET_DISCORD).unwrap(), [ROLE]);
    assert_eq!(
        bed.discord.with_method("DELETE"),
        [(FakeDiscord::role_path(ids::ALICE_DISCORD_ID, ROLE), Value::Null)]
    );
    assert_eq!(
        bed.discord.with_method("PATCH"),
        [(FakeDiscord::member_path(TARGET_DISCORD), json!({"roles": [ROLE]}))]
    );
    let events = emitted(&bed.db, &d.api, &run, "send-discord-role-event").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event"]["name"], "discord/user-added-to-cohort");
    assert_eq!(
        events[0]["event"]["data"],
        json!({"cohortId": ids::COHORT, "userId": TARGET, "discordRoleId": ROLE})
    );
    let role_run = d.api.only_run(events[0]["id"].as_str().unwrap()).await;
    assert_eq!(role_run["function_id"], "add-discord-role-workflow");

    // The same transfer delivered again: nothing changes, no second DELETE or grant.
    let entitlements_before = bed.count("SELECT COUNT(*) AS n FROM entitlements", &[]).await;
    let run = transfer(
        &d.api,
        "commerce/purchase_transferred",
        data,
        "product-transfer-workflow",
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        bed.count("SELECT COUNT(*) AS n FROM entitlements", &[]).await,
        entitlements_before
    );
    assert_eq!(bed.live_of_purchase(ids::PURCHASE_ALICE_COHORT).await, after);
    assert_eq!(bed.discord.with_method("DELETE").len(), 1);
    assert_eq!(bed.discord.roles(TARGET_DISCORD).unwrap(), [ROLE]);
}

both!(the_api_transfer_moves_credits_with_the_original_payload, api_impl);
async fn api_impl(b: Backend) {
    let bed = Bed::new(b).await;
    target(&bed).await;
    let bob_credit = bed
        .live(ids::BOB)
        .await
        .into_iter()
        .find(|e| e.starts_with(ids::CREDIT_COUPON_PPP))
        .unwrap();
    hand_over(&bed, ids::PURCHASE_BOB_WORKSHOP, TARGET).await;
    let d = bed.start();
    let run = transfer(
        &d.api,
        "commerce/purchase_transferred_api",
        json!({"purchaseId": ids::PURCHASE_BOB_WORKSHOP, "sourceUserId": ids::BOB, "targetUserId": TARGET,
               "transferSource": "api-support-front"}),
        "api-product-transfer-workflow",
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["transferSource"], "api");
    let names = step_names(&run);
    assert!(
        !names
            .iter()
            .any(|n| n.contains("discord role from") || n == "send-discord-role-event"),
        "no role for this product: {names:?}"
    );
    assert!(bed.live(ids::BOB).await.is_empty(), "Bob keeps nothing");
    let moved = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "transfer coupon entitlements")
        .unwrap()["output"]["moved"]
        .clone();
    assert_eq!(moved[0]["from"], json!(bob_credit));
    let target_live = bed.live(TARGET).await;
    assert_eq!(
        target_live.len(),
        3,
        "workshop, its lesson, the credit: {target_live:?}"
    );
    assert!(target_live.contains(&moved[0]["to"].as_str().unwrap().to_string()));
    assert!(bed.discord.requests().is_empty());
}

both!(transfers_that_move_nothing, nothing_impl);
async fn nothing_impl(b: Backend) {
    let bed = Bed::new(b).await;
    target(&bed).await;
    let d = bed.start();
    let before = bed
        .count("SELECT COUNT(*) AS n FROM entitlements WHERE deleted_at IS NULL", &[])
        .await;
    let t = |p: &str, from: &str| json!({"purchaseId": p, "fromUserId": from, "toUserId": TARGET});
    // A live event is not transferable here.
    let run = transfer(
        &d.api,
        "purchase/transferred",
        t(ids::PURCHASE_ALICE_EVENT, ids::ALICE),
        "product-transfer-workflow",
    )
    .await;
    assert_eq!(run["output"]["message"], "Not a transferable product type", "{run}");
    assert_eq!(
        step_names(&run),
        ["log transfer initiated", "get purchase", "get product"]
    );
    // A team purchase (its seats carry the access) and a refunded purchase: nothing moves.
    for (p, from) in [
        (ids::PURCHASE_CAROL_TEAM, ids::CAROL),
        (ids::PURCHASE_ERIN_REFUNDED, ids::ERIN),
    ] {
        let run = transfer(&d.api, "purchase/transferred", t(p, from), "product-transfer-workflow").await;
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(run["output"]["transferred"], false, "{run}");
        assert_eq!(step_names(&run).last().unwrap(), "load resource data for all contexts");
    }
    // The same user on both sides, an unknown purchase, a payload without users: failed for good.
    for data in [
        json!({"purchaseId": ids::PURCHASE_ALICE_COHORT, "fromUserId": TARGET, "toUserId": TARGET}),
        json!({"purchaseId": "purch_nope", "fromUserId": ids::ALICE, "toUserId": TARGET}),
        json!({"purchaseId": ids::PURCHASE_ALICE_COHORT}),
    ] {
        let run = transfer(&d.api, "purchase/transferred", data, "product-transfer-workflow").await;
        assert_eq!(run["status"], "failed", "{run}");
    }
    assert_eq!(
        bed.count("SELECT COUNT(*) AS n FROM entitlements WHERE deleted_at IS NULL", &[])
            .await,
        before
    );
    assert!(bed.discord.requests().is_empty());
}

both!(a_bundle_moves_its_other_resources_too, bundle_impl);
async fn bundle_impl(b: Backend) {
    let bed = Bed::new(b).await;
    target(&bed).await;
    // A cohort bundle that also sells the self-paced workshop, bought by Alice (the web app already handed it over).
    builders::product(
        &bed.db.db,
        "prod_bundle",
        "cohort",
        "Cohort Bundle",
        60_000,
        json!({"discordRoleId": "role_bundle"}),
        &[ids::COHORT, ids::SELF_PACED_WORKSHOP],
    )
    .await
    .unwrap();
    builders::purchase(
        &bed.db.db,
        "purch_bundle",
        TARGET,
        "prod_bundle",
        ingot::platform::commerce::PurchaseStatus::Valid,
        60_000,
    )
    .await
    .unwrap();
    let d = bed.start();
    let run = transfer(
        &d.api,
        "purchase/transferred",
        json!({"purchaseId": "purch_bundle", "fromUserId": ids::ALICE, "toUserId": TARGET}),
        "product-transfer-workflow",
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    let names = step_names(&run);
    let w = ids::SELF_PACED_WORKSHOP;
    for expected in [
        format!("get workshop content access entitlement type for {w}"),
        format!("remove workshop entitlements from source user for {w}"),
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert_eq!(
        names.iter().filter(|n| *n == "add entitlements to target user").count(),
        2,
        "{names:?}"
    );
    let live = bed.live_of_purchase("purch_bundle").await;
    let count = |t: &str| live.iter().filter(|e| e.ends_with(t)).count();
    assert_eq!(
        (
            count(":cohort_content_access"),
            count(":workshop_content_access"),
            count(":cohort_discord_role")
        ),
        (9, 2, 1),
        "{live:?}"
    );
    assert_eq!(bed.discord.roles(TARGET_DISCORD).unwrap(), ["role_bundle"]);
}
