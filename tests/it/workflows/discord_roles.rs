//! `remove-purchase-role-discord` and `add-discord-role-workflow` (issue 11) against a fake Discord guild: a
//! refunded, disputed or banned purchase loses the Discord role it granted (DELETE, only if the member has it and
//! no other live entitlement grants it; the role entitlement soft-deleted, also when a refund already deleted it),
//! a 429 with Retry-After is waited out; a user added to a cohort or workshop gets the role PATCHed in when linked,
//! and nothing otherwise.

use super::commerce_bed::{Bed, MANUAL_ROLE, run_of, status_event};
use super::fake_discord::FakeDiscord;
use super::harness::step_names;
use crate::both;
use crate::support::Backend;
use ingot::platform::entitlements::{self, NewEntitlement, SourceType};
use ingot::seed::builders;
use ingot::seed::demo::ids;
use serde_json::{Value, json};

const REMOVE: &str = "remove-purchase-role-discord";
const ADD: &str = "add-discord-role-workflow";
const ROLE: &str = ids::DISCORD_COHORT_ROLE;

fn alice_role_entitlement_live(bed: &Bed) -> impl std::future::Future<Output = i64> + '_ {
    bed.count(
        "SELECT COUNT(*) AS n FROM entitlements e JOIN entitlement_types t ON t.id = e.entitlement_type_id \
         WHERE e.user_id = $1 AND t.name = 'cohort_discord_role' AND e.deleted_at IS NULL",
        &[ids::ALICE],
    )
}

both!(refunded_purchase_loses_its_discord_role, refunded_impl);
async fn refunded_impl(b: Backend) {
    let bed = Bed::new(b).await;
    // A 429 on the first DELETE: Discord's Retry-After is honoured, then the role goes.
    bed.discord.rate_limit_once("DELETE");
    let d = bed.start();
    let run = run_of(&d.api, status_event("ch_alice_cohort", "Refunded"), REMOVE).await;
    assert_eq!(run["status"], "completed", "{run}");
    let ent = run["steps"][3]["output"][0]["entitlementId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        step_names(&run),
        [
            "get purchase".to_string(),
            "get user".into(),
            "get product".into(),
            "get discord role entitlements for purchase".into(),
            format!("remove discord role {ROLE}"),
            format!("soft delete discord role entitlement {ent}"),
        ]
    );
    // The four lookups are read steps, recorded together by the next step's write — here the first attempt of
    // "remove discord role", failed by the 429: no commit of their own. PostgreSQL's `xmin` tells.
    if b == Backend::Postgres {
        let remove = format!("remove discord role {ROLE}");
        let sql = format!(
            "SELECT xmin::text AS x FROM steps WHERE run_id = $1 AND (name IN ('get purchase', 'get user', \
             'get product', 'get discord role entitlements for purchase') OR (name = '{remove}' AND attempt = \
             (SELECT MIN(attempt) FROM steps WHERE run_id = $1 AND name = '{remove}')))"
        );
        let writers = bed.db.writers(&sql, run["id"].as_str().unwrap()).await;
        assert_eq!(writers.len(), 1, "{writers:?}");
    }
    let member = FakeDiscord::member_path(ids::ALICE_DISCORD_ID);
    let delete = FakeDiscord::role_path(ids::ALICE_DISCORD_ID, ROLE);
    let seen: Vec<(String, String)> = bed.discord.requests().into_iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(
        seen,
        [
            ("GET".to_string(), member.clone()),
            ("DELETE".into(), delete.clone()),
            ("GET".into(), member.clone()),
            ("DELETE".into(), delete.clone()),
        ],
        "member read, DELETE limited (429), then read and DELETE again"
    );
    assert_eq!(bed.discord.roles(ids::ALICE_DISCORD_ID).unwrap(), [MANUAL_ROLE]);
    assert_eq!(alice_role_entitlement_live(&bed).await, 0);
    let out = &run["output"];
    assert_eq!(
        (
            out["status"].as_str(),
            out["purchaseId"].as_str(),
            out["productType"].as_str()
        ),
        (Some("success"), Some(ids::PURCHASE_ALICE_COHORT), Some("cohort"))
    );
    assert_eq!(out["rolesRemoved"], json!([ROLE]));
    assert_eq!(out["removalResults"][0]["status"], "success");

    // Delivered again within 24 h: skipped by the idempotency key. Disputed afterwards: the member no longer
    // has the role, so only a GET.
    let ids_ = d.api.send(status_event("ch_alice_cohort", "Refunded")).await;
    d.api.drain_all().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", ids_[0])).await;
    assert!(ev["skipped"].to_string().contains(REMOVE), "{ev}");
    let run = run_of(&d.api, status_event("ch_alice_cohort", "Disputed"), REMOVE).await;
    assert_eq!(run["output"]["removalResults"][0]["status"], "skipped", "{run}");
    assert_eq!(run["output"]["rolesRemoved"], json!([]));
    assert_eq!(bed.discord.with_method("DELETE").len(), 2, "no further DELETE");

    // Valid and Restricted start nothing.
    for s in ["Valid", "Restricted"] {
        let ids_ = d.api.send(status_event("ch_alice_cohort", s)).await;
        d.api.drain_all().await;
        assert!(d.api.runs_of(&ids_[0]).await.iter().all(|r| r["function_id"] != REMOVE));
    }
}

both!(a_role_still_granted_elsewhere_is_kept, kept_impl);
async fn kept_impl(b: Backend) {
    let bed = Bed::new(b).await;
    // Alice holds the same role through a manual grant too.
    let t = entitlements::require_entitlement_type(&bed.db.db, "cohort_discord_role")
        .await
        .unwrap();
    entitlements::create_entitlement(
        &bed.db.db,
        &NewEntitlement {
            id: "e_manual_role".into(),
            entitlement_type_id: t.id,
            user_id: ids::ALICE.into(),
            organization_id: None,
            organization_membership_id: None,
            source_type: SourceType::Manual,
            source_id: "support".into(),
            metadata: json!({"discordRoleId": ROLE}),
            expires_at: None,
        },
    )
    .await
    .unwrap();
    // The refund already soft-deleted the purchase's role entitlement: it still counts as granted by the purchase.
    bed.db
        .exec(
            "UPDATE entitlements SET deleted_at = CURRENT_TIMESTAMP WHERE source_id = $1",
            &[ids::PURCHASE_ALICE_COHORT],
        )
        .await;
    let d = bed.start();
    let run = run_of(&d.api, status_event("ch_alice_cohort", "Banned"), REMOVE).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        run["output"]["removalResults"][0],
        json!({"status": "skipped", "roleId": ROLE, "reason": "another entitlement grants the role",
               "userId": ids::ALICE, "entitlementId": run["steps"][3]["output"][0]["entitlementId"]})
    );
    assert!(bed.discord.requests().is_empty(), "Discord not called");
    assert_eq!(alice_role_entitlement_live(&bed).await, 1, "the manual grant stays");
}

both!(nothing_to_remove, nothing_impl);
async fn nothing_impl(b: Backend) {
    let bed = Bed::new(b).await;
    // Dave's seat has a role entitlement but no linked Discord account.
    let t = entitlements::require_entitlement_type(&bed.db.db, "cohort_discord_role")
        .await
        .unwrap();
    super::commerce_bed::charge(
        &bed.db,
        ids::PURCHASE_DAVE_SEAT,
        ids::DAVE,
        ids::PRODUCT_COHORT,
        "ch_dave",
    )
    .await;
    entitlements::create_entitlement(
        &bed.db.db,
        &NewEntitlement {
            id: "e_dave_role".into(),
            entitlement_type_id: t.id,
            user_id: ids::DAVE.into(),
            organization_id: None,
            organization_membership_id: None,
            source_type: SourceType::Purchase,
            source_id: ids::PURCHASE_DAVE_SEAT.into(),
            metadata: json!({"discordRoleId": ROLE}),
            expires_at: None,
        },
    )
    .await
    .unwrap();
    let d = bed.start();
    let run = run_of(&d.api, status_event("ch_dave", "Disputed"), REMOVE).await;
    assert_eq!(
        run["output"]["removalResults"][0]["reason"], "no discord account",
        "{run}"
    );
    assert_eq!(
        bed.count(
            "SELECT COUNT(*) AS n FROM entitlements WHERE id = 'e_dave_role' AND deleted_at IS NULL",
            &[]
        )
        .await,
        0
    );
    // Bob's workshop purchase granted no Discord role.
    let run = run_of(&d.api, status_event("ch_bob_workshop", "Refunded"), REMOVE).await;
    assert_eq!(
        run["output"],
        json!({"status": "skipped", "reason": "No discord role entitlements", "purchaseId": ids::PURCHASE_BOB_WORKSHOP})
    );
    // A charge nobody recorded: retried, then failed.
    let run = run_of(&d.api, status_event("ch_nobody", "Refunded"), REMOVE).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(bed.discord.requests().is_empty());
}

fn added(name: &str, key: &str, id: &str, user: &str, role: Value) -> Value {
    json!({"name": name, "data": {key: id, "userId": user, "discordRoleId": role}})
}

both!(add_discord_role_patches_a_linked_member, add_impl);
async fn add_impl(b: Backend) {
    let bed = Bed::new(b).await;
    bed.discord.add_member(ids::ALICE_DISCORD_ID, &[MANUAL_ROLE]);
    bed.discord.rate_limit_once("PATCH");
    let d = bed.start();
    let run = run_of(
        &d.api,
        added(
            "discord/user-added-to-cohort",
            "cohortId",
            ids::COHORT,
            ids::ALICE,
            json!("role_cohort"),
        ),
        ADD,
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        step_names(&run),
        [
            "get user",
            "check if discord is connected",
            "get discord member",
            "update discord roles for user",
            "reload discord member"
        ]
    );
    let member = FakeDiscord::member_path(ids::ALICE_DISCORD_ID);
    let roles = json!({"roles": [MANUAL_ROLE, "role_cohort"]});
    assert_eq!(
        bed.discord.requests(),
        [
            ("GET".to_string(), member.clone(), Value::Null),
            ("PATCH".into(), member.clone(), roles.clone()),
            ("PATCH".into(), member.clone(), roles.clone()),
            ("GET".into(), member.clone(), Value::Null),
        ],
        "GET, PATCH answered 429, PATCH again after Retry-After, reload"
    );
    assert_eq!(run["output"]["discordMember"]["roles"], roles["roles"]);

    // The original platform's workshop name; a role the member has is not duplicated.
    let run = run_of(
        &d.api,
        added(
            "workshop/user-added",
            "workshopId",
            ids::SELF_PACED_WORKSHOP,
            ids::ALICE,
            json!("role_cohort"),
        ),
        ADD,
    )
    .await;
    assert_eq!(run["output"]["discordMember"]["roles"], roles["roles"], "{run}");
    assert_eq!(bed.discord.with_method("PATCH").last().unwrap().1, roles);
}

both!(add_discord_role_without_a_role_account_or_membership, add_branches_impl);
async fn add_branches_impl(b: Backend) {
    let bed = Bed::new(b).await;
    builders::account(&bed.db.db, ids::BOB, "discord", "bob-discord")
        .await
        .unwrap();
    let d = bed.start();
    // No role id (post-purchase sends the event without one): no step.
    for role in [Value::Null, json!("")] {
        let run = run_of(
            &d.api,
            added(
                "discord/user-added-to-workshop",
                "workshopId",
                ids::SELF_PACED_WORKSHOP,
                ids::ALICE,
                role,
            ),
            ADD,
        )
        .await;
        assert_eq!(run["output"], "No discord role id found");
        assert!(step_names(&run).is_empty());
    }
    // Not linked: nothing at Discord; the role comes when Dave links.
    let run = run_of(
        &d.api,
        added("cohort/user-added", "cohortId", ids::COHORT, ids::DAVE, json!(ROLE)),
        ADD,
    )
    .await;
    assert_eq!(run["output"], "No discord account found for user");
    assert_eq!(step_names(&run), ["get user", "check if discord is connected"]);
    // Linked but not in the guild: no PATCH.
    let run = run_of(
        &d.api,
        added("cohort/user-added", "cohortId", ids::COHORT, ids::BOB, json!(ROLE)),
        ADD,
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!({"discordMember": null}));
    assert_eq!(
        bed.discord.requests().iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["GET", "GET"],
        "member looked up and reloaded, never patched"
    );
    // No user id: failed at once.
    let run = run_of(
        &d.api,
        json!({"name": "discord/user-added-to-cohort", "data": {"cohortId": "c", "discordRoleId": ROLE}}),
        ADD,
    )
    .await;
    assert_eq!(run["status"], "failed");
}

both!(a_refunded_team_purchase_takes_the_seats_roles, team_impl);
async fn team_impl(b: Backend) {
    let bed = Bed::new(b).await;
    // Dave's seat of Carol's team purchase gave him the cohort role; he linked Discord.
    builders::account(&bed.db.db, ids::DAVE, "discord", "dave-discord")
        .await
        .unwrap();
    bed.discord.add_member("dave-discord", &[MANUAL_ROLE, ROLE]);
    let t = entitlements::require_entitlement_type(&bed.db.db, "cohort_discord_role")
        .await
        .unwrap();
    entitlements::create_entitlement(
        &bed.db.db,
        &NewEntitlement {
            id: "e_dave_seat_role".into(),
            entitlement_type_id: t.id,
            user_id: ids::DAVE.into(),
            organization_id: Some(ids::TEAM_ORG.into()),
            organization_membership_id: None,
            source_type: SourceType::Purchase,
            source_id: ids::PURCHASE_DAVE_SEAT.into(),
            metadata: json!({"discordRoleId": ROLE}),
            expires_at: None,
        },
    )
    .await
    .unwrap();
    let d = bed.start();
    // Disputed: only the team purchase itself (which granted no role) counts.
    let run = run_of(&d.api, status_event("ch_carol_team", "Disputed"), REMOVE).await;
    assert_eq!(run["output"]["reason"], "No discord role entitlements", "{run}");
    // Refunded: a refund refunds every seat, so the seat's role goes too.
    let run = run_of(&d.api, status_event("ch_carol_team", "Refunded"), REMOVE).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["rolesRemoved"], json!([ROLE]), "{run}");
    assert_eq!(run["output"]["removalResults"][0]["userId"], ids::DAVE);
    assert_eq!(
        bed.discord.with_method("DELETE"),
        [(FakeDiscord::role_path("dave-discord", ROLE), Value::Null)]
    );
    assert_eq!(bed.discord.roles("dave-discord").unwrap(), [MANUAL_ROLE]);
    assert_eq!(
        bed.discord.roles(ids::ALICE_DISCORD_ID).unwrap(),
        [MANUAL_ROLE, ROLE],
        "Alice untouched"
    );
    assert_eq!(
        bed.count(
            "SELECT COUNT(*) AS n FROM entitlements WHERE id = 'e_dave_seat_role' AND deleted_at IS NULL",
            &[]
        )
        .await,
        0
    );
}
