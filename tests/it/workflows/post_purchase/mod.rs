//! `post-purchase-workflow` end to end against the real daemon: Stripe on wiremock, email to an SMTP sink, the
//! platform's rows read back with SQL. Branches: individual cohort and workshop purchases, organizations, team
//! purchases, full-price seat redemptions, used credit coupons, missing rows, the original event names, replays
//! and a kill -9 while a welcome email is in flight. This file holds the shared world (catalogue, daemon, fakes,
//! readers); the tests are in `individual.rs`, `team.rs` and `failures.rs`.

mod failures;
mod individual;
mod team;

use crate::support::process::{Daemon, base_env};
use crate::support::smtp_sink::{Hold, SmtpSink};
use crate::support::{Backend, TestDb};
pub(super) use crate::workflows::harness::step_names;
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

pub(super) const COHORT_ROLE: &str = "900000000000000111";

/// The catalogue: a cohort (two workshops with a lesson each) sold with a Discord role, and a workshop (one
/// lesson) sold without one; buyer Ada (u1) and team buyer Carol (u_carol), each with a personal organization.
pub(super) async fn catalogue(t: &TestDb) {
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

pub(super) async fn purchase(t: &TestDb, n: NewPurchase) {
    purchases::ensure_purchase(&t.db, &n).await.unwrap();
}

pub(super) fn new_purchase(id: &str, user: &str, product: &str, status: PurchaseStatus) -> NewPurchase {
    NewPurchase {
        id: id.into(),
        user_id: Some(user.into()),
        product_id: product.into(),
        status: Some(status),
        total_amount_cents: 50000,
        ..NewPurchase::default()
    }
}

pub(super) struct World {
    pub(super) t: TestDb,
    pub(super) d: Daemon,
    pub(super) sink: SmtpSink,
    pub(super) _stripe: MockServer,
}

pub(super) fn env(t: &TestDb, sink: &SmtpSink, stripe: Option<&MockServer>) -> Vec<(String, String)> {
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

pub(super) async fn world(b: Backend, with_stripe: bool, hold: Option<Arc<Hold>>) -> World {
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

/// The `post-purchase-workflow` run an event started (a purchase starts the other fan-out functions too).
pub(super) async fn only_run(d: &Daemon, event_id: &str) -> Value {
    crate::workflows::fanout_support::run_of(&d.api, event_id, "post-purchase-workflow").await
}

pub(super) fn step<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name:?} in {run}"))
}

pub(super) async fn live_entitlements(t: &TestDb, user: &str, type_name: &str) -> i64 {
    t.count(
        "SELECT COUNT(*) AS n FROM entitlements e JOIN entitlement_types t ON t.id = e.entitlement_type_id \
         WHERE e.user_id = $1 AND t.name = $2 AND e.deleted_at IS NULL",
        &[user, type_name],
    )
    .await
}

pub(super) async fn events_named(t: &TestDb, name: &str, data_like: &str) -> i64 {
    t.count(
        "SELECT COUNT(*) AS n FROM events WHERE name = $1 AND data LIKE $2",
        &[name, data_like],
    )
    .await
}

pub(super) async fn has_role(t: &TestDb, org: &str, user: &str, role: &str) -> bool {
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
pub(super) fn text(data: &str) -> String {
    data.replace("=\n", "").replace("=3D", "=")
}
