//! Issue 11 durability: a kill -9 inside each family — refunds (`remove-purchase-role-discord` while Discord holds
//! its answer), Discord roles (`add-discord-role-workflow` in the member lookup), transfers (in the source's role
//! removal) — then a restart on the same database: every run completes, every step before the kill ran once, the
//! Discord change happens once, and nothing is granted twice. A replayed event id starts nothing.

use super::commerce_bed::{Bed, MANUAL_ROLE, status_event};
use super::fake_discord::FakeDiscord;
use super::harness::Hang;
use super::product_transfer::{TARGET, TARGET_DISCORD, hand_over, target};
use crate::both;
use crate::support::process::{Daemon, base_env};
use crate::support::{Api, Backend};
use ingot::seed::demo::ids;
use serde_json::{Value, json};

/// The bed's settings with Discord pointed at a server that never answers.
fn hanging_env(bed: &Bed, hang: &Hang) -> Vec<(String, String)> {
    let mut env = base_env(&bed.db.url);
    env.extend(bed.discord.env());
    for (k, v) in env.iter_mut() {
        if k == "DISCORD_API_BASE_URL" {
            *v = format!("http://127.0.0.1:{}", hang.port);
        }
    }
    env
}

/// Every step of the run has exactly one attempt, except `again` (in flight at the kill: one per execution).
fn steps_ran_once_except(run: &Value, again: &str) {
    for step in run["steps"].as_array().unwrap() {
        let attempts = step["history"].as_array().unwrap().len();
        if step["name"] == again {
            assert!(attempts >= 1, "{step}");
        } else {
            assert_eq!(attempts, 1, "ran once: {step}");
        }
    }
}

async fn only(api: &Api, function: &str) -> Value {
    let runs = api.runs_of_function(function).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

both!(kill9_while_removing_a_refunded_role, refund_kill_impl);
async fn refund_kill_impl(b: Backend) {
    let bed = Bed::new(b).await;
    let hang = Hang::start().await;
    let d = Daemon::start(&hanging_env(&bed, &hang));
    let mut event = status_event("ch_alice_cohort", "Refunded");
    event["id"] = json!("evt_status_1");
    d.api.send(event.clone()).await;
    hang.until_connected().await;
    d.kill9();

    let d = bed.start();
    d.api.drain_all().await;
    let run = only(&d.api, "remove-purchase-role-discord").await;
    assert_eq!(run["status"], "completed", "{run}");
    steps_ran_once_except(&run, &format!("remove discord role {}", ids::DISCORD_COHORT_ROLE));
    assert_eq!(bed.discord.with_method("DELETE").len(), 1, "the role removed once");
    assert_eq!(bed.discord.roles(ids::ALICE_DISCORD_ID).unwrap(), [MANUAL_ROLE]);
    assert_eq!(bed.status(ids::PURCHASE_ALICE_COHORT).await, "Refunded");
    assert_eq!(only(&d.api, "update-purchase-status").await["status"], "completed");

    // The same event id again: a duplicate, no run.
    let again = d.api.send(event).await;
    d.api.drain_all().await;
    assert!(d.api.runs_of(&again[0]).await.is_empty());
    assert_eq!(bed.discord.with_method("DELETE").len(), 1);
}

both!(kill9_while_adding_a_role, add_kill_impl);
async fn add_kill_impl(b: Backend) {
    let bed = Bed::new(b).await;
    bed.discord.add_member(ids::ALICE_DISCORD_ID, &[MANUAL_ROLE]);
    let hang = Hang::start().await;
    let d = Daemon::start(&hanging_env(&bed, &hang));
    let event = json!({"name": "discord/user-added-to-cohort", "id": "evt_added_1",
                       "data": {"cohortId": ids::COHORT, "userId": ids::ALICE, "discordRoleId": "role_new"}});
    d.api.send(event.clone()).await;
    hang.until_connected().await;
    d.kill9();

    let d = bed.start();
    d.api.drain_all().await;
    let run = only(&d.api, "add-discord-role-workflow").await;
    assert_eq!(run["status"], "completed", "{run}");
    steps_ran_once_except(&run, "get discord member");
    assert_eq!(
        bed.discord.with_method("PATCH"),
        [(
            FakeDiscord::member_path(ids::ALICE_DISCORD_ID),
            json!({"roles": [MANUAL_ROLE, "role_new"]})
        )]
    );
    let again = d.api.send(event).await;
    d.api.drain_all().await;
    assert!(d.api.runs_of(&again[0]).await.is_empty());
    assert_eq!(bed.discord.with_method("PATCH").len(), 1);
}

both!(kill9_while_transferring, transfer_kill_impl);
async fn transfer_kill_impl(b: Backend) {
    let bed = Bed::new(b).await;
    target(&bed).await;
    hand_over(&bed, ids::PURCHASE_ALICE_COHORT, TARGET).await;
    let hang = Hang::start().await;
    let d = Daemon::start(&hanging_env(&bed, &hang));
    let event = json!({"name": "purchase/transferred", "id": "evt_transfer_1",
                       "data": {"purchaseId": ids::PURCHASE_ALICE_COHORT, "fromUserId": ids::ALICE, "toUserId": TARGET}});
    d.api.send(event.clone()).await;
    hang.until_connected().await;
    d.kill9();

    let d = bed.start();
    d.api.drain_all().await;
    let run = only(&d.api, "product-transfer-workflow").await;
    assert_eq!(run["status"], "completed", "{run}");
    steps_ran_once_except(&run, "remove discord role from source user");
    let live = bed.live_of_purchase(ids::PURCHASE_ALICE_COHORT).await;
    assert_eq!(live.len(), 10, "granted once: {live:?}");
    assert!(live.iter().all(|e| e.starts_with(&format!("{TARGET}:"))));
    assert_eq!(bed.discord.with_method("DELETE").len(), 1);
    assert_eq!(bed.discord.roles(TARGET_DISCORD).unwrap(), [ids::DISCORD_COHORT_ROLE]);
    assert_eq!(
        bed.count(
            "SELECT COUNT(*) AS n FROM events WHERE name = 'discord/user-added-to-cohort'",
            &[]
        )
        .await,
        1,
        "the role event emitted once"
    );
    let again = d.api.send(event).await;
    d.api.drain_all().await;
    assert!(d.api.runs_of(&again[0]).await.is_empty());
    assert_eq!(bed.live_of_purchase(ids::PURCHASE_ALICE_COHORT).await, live);
}
