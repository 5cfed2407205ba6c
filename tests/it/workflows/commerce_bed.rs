//! The test bed of the refund, Discord-role and transfer workflows (issue 11): the demo catalogue with merchant
//! charges on its purchases, a fake Discord guild where Alice (linked) has a manual role and the cohort role, and
//! readers for purchases, entitlements and memberships.

use super::fake_discord::FakeDiscord;
use super::harness::texts;
use crate::support::process::Daemon;
use crate::support::{Api, Backend, TestDb};
use ingot::platform::commerce::merchants;
use ingot::seed::demo::{self, ids};
use serde_json::{Value, json};

pub const MANUAL_ROLE: &str = "role_manual";

pub struct Bed {
    pub db: TestDb,
    pub discord: FakeDiscord,
}

impl Bed {
    /// The demo, charges `ch_alice_cohort`, `ch_bob_workshop`, `ch_carol_team`, `ch_alice_event` on those
    /// purchases, and Alice in the guild with [`MANUAL_ROLE`] and the cohort role.
    pub async fn new(b: Backend) -> Bed {
        let db = TestDb::new(b).await;
        demo::load(&db.db).await.unwrap();
        for (purchase, user, product, stripe_charge) in [
            (
                ids::PURCHASE_ALICE_COHORT,
                ids::ALICE,
                ids::PRODUCT_COHORT,
                "ch_alice_cohort",
            ),
            (
                ids::PURCHASE_BOB_WORKSHOP,
                ids::BOB,
                ids::PRODUCT_WORKSHOP,
                "ch_bob_workshop",
            ),
            (
                ids::PURCHASE_CAROL_TEAM,
                ids::CAROL,
                ids::PRODUCT_COHORT,
                "ch_carol_team",
            ),
            (
                ids::PURCHASE_ALICE_EVENT,
                ids::ALICE,
                ids::PRODUCT_EVENT,
                "ch_alice_event",
            ),
        ] {
            charge(&db, purchase, user, product, stripe_charge).await;
        }
        let discord = FakeDiscord::start().await;
        discord.add_member(ids::ALICE_DISCORD_ID, &[MANUAL_ROLE, ids::DISCORD_COHORT_ROLE]);
        Bed { db, discord }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        self.discord.daemon_env(&self.db.url)
    }

    pub fn start(&self) -> Daemon {
        Daemon::start(&self.env())
    }

    pub async fn status(&self, purchase: &str) -> String {
        texts(&self.db, "SELECT status AS t FROM purchases WHERE id = $1", &[purchase]).await[0].clone()
    }

    /// Ids of the user's live entitlements, sorted.
    pub async fn live(&self, user: &str) -> Vec<String> {
        texts(
            &self.db,
            "SELECT id AS t FROM entitlements WHERE user_id = $1 AND deleted_at IS NULL ORDER BY id",
            &[user],
        )
        .await
    }

    /// Live entitlements a purchase granted: (user, type name), sorted.
    pub async fn live_of_purchase(&self, purchase: &str) -> Vec<String> {
        texts(
            &self.db,
            "SELECT e.user_id || ':' || t.name AS t FROM entitlements e JOIN entitlement_types t ON t.id = e.entitlement_type_id \
             WHERE e.source_type = 'PURCHASE' AND e.source_id = $1 AND e.deleted_at IS NULL ORDER BY 1",
            &[purchase],
        )
        .await
    }

    pub async fn count(&self, sql: &str, params: &[&str]) -> i64 {
        self.db.count(sql, params).await
    }

    /// The organizations the user is a member of, with their roles: `org:role1,role2`, sorted.
    pub async fn memberships(&self, user: &str) -> Vec<String> {
        let mut out = Vec::new();
        for org in texts(
            &self.db,
            "SELECT organization_id AS t FROM organization_memberships WHERE user_id = $1 ORDER BY organization_id",
            &[user],
        )
        .await
        {
            let roles = texts(
                &self.db,
                "SELECT r.name AS t FROM organization_memberships m JOIN organization_membership_roles mr \
                 ON mr.organization_membership_id = m.id JOIN roles r ON r.id = mr.role_id \
                 WHERE m.user_id = $1 AND m.organization_id = $2 AND mr.active = TRUE AND mr.deleted_at IS NULL ORDER BY r.name",
                &[user, &org],
            )
            .await;
            out.push(format!("{org}:{}", roles.join(",")));
        }
        out
    }
}

/// Gives a purchase a merchant charge with this Stripe charge id.
pub async fn charge(db: &TestDb, purchase: &str, user: &str, product: &str, charge: &str) {
    let (customer, _) =
        merchants::find_or_create_merchant_customer(&db.db, ids::MERCHANT_ACCOUNT, user, &format!("cus_{user}"))
            .await
            .unwrap();
    db.exec(
        "INSERT INTO merchant_charges (id, identifier, user_id, merchant_account_id, merchant_product_id, merchant_customer_id) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&format!("mc_{charge}"), charge, user, ids::MERCHANT_ACCOUNT, &format!("mp_{product}"), &customer.id],
    )
    .await;
    db.exec(
        "UPDATE purchases SET merchant_charge_id = $1 WHERE id = $2",
        &[&format!("mc_{charge}"), purchase],
    )
    .await;
}

/// Sends one event, drains, and returns the run of `function` it started (exactly one).
pub async fn run_of(api: &Api, event: Value, function: &str) -> Value {
    let ids = api.send(event).await;
    api.drain_all().await;
    let runs: Vec<Value> = api
        .runs_of(&ids[0])
        .await
        .into_iter()
        .filter(|r| r["function_id"] == function)
        .collect();
    assert_eq!(runs.len(), 1, "one {function} run: {runs:?}");
    api.run(runs[0]["id"].as_str().unwrap()).await
}

pub fn status_event(charge: &str, status: &str) -> Value {
    json!({"name": "commerce/update-purchase-status", "data": {"stripeChargeId": charge, "status": status}})
}

pub fn refund_event(charge: &str) -> Value {
    json!({"name": "stripe/refund-processed", "data": {"stripeChargeId": charge, "merchantChargeId": charge}})
}
