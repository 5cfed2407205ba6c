//! Subscriptions end to end from signed Stripe webhooks, with fake Stripe and Discord: the checkout
//! (`stripe-subscription-checkout`), `stripe-customer-subscription-created/-updated` (updates, deletions, out of
//! order deliveries), `stripe-invoice-payment-succeeded` and `add-subscription-discord-role` (`lifecycle.rs`,
//! `branches.rs`), a kill -9 while Discord holds its answer and replays (`durability.rs`). This file holds the
//! bed: the membership product, the subscriber with a linked Discord account, the fakes and the Stripe payloads.

mod branches;
mod durability;
mod lifecycle;

use crate::support::process::Daemon;
use crate::support::smtp_sink::SmtpSink;
use crate::support::{Backend, TestDb};
use crate::workflows::harness::{env, post_webhook};
use ingot::platform::commerce::merchants;
use ingot::seed::builders;
use ingot::seed::demo::{self, ids};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub(super) const GUILD: &str = "4242";
pub(super) const SUB_ROLE: &str = "900000000000000777";
pub(super) const DISCORD_ID: &str = "300000000000000001";
pub(super) const EMAIL: &str = "sub.scriber@example.com";
/// The subscription's first period (Stripe's unix seconds).
pub(super) const P0: i64 = 1_790_000_000;
pub(super) const P1: i64 = P0 + 30 * 86_400;

/// A guild's members and their roles; GET, PATCH (replace roles), DELETE (one role). `rate_limit_next` answers the
/// next call 429 with Retry-After; `fail_next` 502; `delay_patch` holds the first PATCH's answer.
#[derive(Default)]
pub(super) struct State {
    pub(super) members: BTreeMap<String, Vec<String>>,
    pub(super) requests: Vec<(String, String, Value)>,
    pub(super) rate_limit_next: bool,
    pub(super) fail_next: bool,
    pub(super) delay_patch: Option<Duration>,
}

#[derive(Clone)]
pub(super) struct FakeDiscord(pub(super) Arc<Mutex<State>>);

fn member(id: &str, roles: &[String]) -> Value {
    json!({"user": {"id": id, "username": "sub"}, "roles": roles, "joined_at": "2026-01-01T00:00:00Z"})
}

impl Respond for FakeDiscord {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let p = req.url.path().to_string();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let m = req.method.to_string();
        s.requests.push((m.clone(), p.clone(), body.clone()));
        if std::mem::take(&mut s.rate_limit_next) {
            return ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"message": "You are being rate limited.", "retry_after": 1.0, "global": false}));
        }
        if std::mem::take(&mut s.fail_next) {
            return ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>");
        }
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if auth != "Bot bot-token" {
            return ResponseTemplate::new(401).set_body_json(json!({"message": "401: Unauthorized", "code": 0}));
        }
        let rest = p.strip_prefix(&format!("/guilds/{GUILD}/members/")).unwrap_or("");
        let (id, role) = match rest.split_once("/roles/") {
            Some((id, role)) => (id.to_string(), Some(role.to_string())),
            None => (rest.to_string(), None),
        };
        let unknown = ResponseTemplate::new(404).set_body_json(json!({"message": "Unknown Member", "code": 10007}));
        let delay = if m == "PATCH" { s.delay_patch.take() } else { None };
        let Some(roles) = s.members.get_mut(&id) else {
            return unknown;
        };
        let answer = match (m.as_str(), role) {
            ("GET", None) => ResponseTemplate::new(200).set_body_json(member(&id, roles)),
            ("PATCH", None) => {
                *roles = body["roles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect();
                ResponseTemplate::new(200).set_body_json(member(&id, roles))
            }
            ("DELETE", Some(r)) => {
                roles.retain(|x| *x != r);
                ResponseTemplate::new(204)
            }
            _ => ResponseTemplate::new(405).set_body_json(json!({"message": "405: Method Not Allowed", "code": 0})),
        };
        match delay {
            Some(d) => answer.set_delay(d),
            None => answer,
        }
    }
}

pub(super) struct Bed {
    pub(super) db: TestDb,
    pub(super) stripe: MockServer,
    pub(super) discord_server: MockServer,
    pub(super) discord: Arc<Mutex<State>>,
    pub(super) sink: SmtpSink,
}

impl Bed {
    /// Demo data, a monthly membership product sold in Stripe as `stripe_prod_member`, the subscriber (linked to
    /// Discord, in the guild with a manual role), and the checkout session `cs_sub` in the fake Stripe.
    pub(super) async fn new(b: Backend) -> Bed {
        let db = TestDb::new(b).await;
        demo::load(&db.db).await.unwrap();
        builders::product(&db.db, "prod_member", "membership", "Membership", 2_000, json!({}), &[])
            .await
            .unwrap();
        merchants::ensure_merchant_product(
            &db.db,
            "mp_member",
            ids::MERCHANT_ACCOUNT,
            "prod_member",
            "stripe_prod_member",
        )
        .await
        .unwrap();
        builders::user(&db.db, "u_sub", EMAIL, "Sub Scriber").await.unwrap();
        builders::account(&db.db, "u_sub", "discord", DISCORD_ID).await.unwrap();
        let stripe = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/checkout/sessions/cs_sub"))
            .respond_with(ResponseTemplate::new(200).set_body_json(session("cs_sub", "sub_1")))
            .mount(&stripe)
            .await;
        let discord = Arc::new(Mutex::new(State::default()));
        discord
            .lock()
            .unwrap()
            .members
            .insert(DISCORD_ID.into(), vec!["role_manual".into()]);
        let discord_server = MockServer::start().await;
        Mock::given(path_regex("^/guilds/.*"))
            .respond_with(FakeDiscord(discord.clone()))
            .mount(&discord_server)
            .await;
        let sink = SmtpSink::start(None, None).await;
        Bed {
            db,
            stripe,
            discord_server,
            discord,
            sink,
        }
    }

    pub(super) fn env(&self) -> Vec<(String, String)> {
        let mut e = env(&self.db.url, &self.stripe.uri(), &self.sink.url());
        for (k, v) in [
            ("DISCORD_BOT_TOKEN", "bot-token".to_string()),
            ("DISCORD_GUILD_ID", GUILD.to_string()),
            ("DISCORD_API_BASE_URL", self.discord_server.uri()),
            ("DISCORD_SUBSCRIBER_ROLE_ID", SUB_ROLE.to_string()),
        ] {
            e.push((k.into(), v));
        }
        e
    }

    pub(super) fn start(&self) -> Daemon {
        Daemon::start(&self.env())
    }

    /// (method, path) of the Discord calls, in order.
    pub(super) fn calls(&self) -> Vec<(String, String)> {
        self.discord
            .lock()
            .unwrap()
            .requests
            .iter()
            .map(|(m, p, _)| (m.clone(), p.clone()))
            .collect()
    }

    pub(super) fn roles(&self) -> Vec<String> {
        self.discord.lock().unwrap().members[DISCORD_ID].clone()
    }
}

/// Discord's member path for the subscriber (`suffix`: `""` or `/roles/<id>`).
pub(super) fn member_path(suffix: &str) -> String {
    format!("/guilds/{GUILD}/members/{DISCORD_ID}{suffix}")
}

/// A Stripe subscription object.
pub(super) fn subscription(id: &str, status: &str, start: i64, end: i64) -> Value {
    json!({"id": id, "object": "subscription", "status": status, "customer": "cus_sub",
           "current_period_start": start, "current_period_end": end, "cancel_at_period_end": false,
           "plan": {"id": "price_member", "object": "plan", "product": "stripe_prod_member"},
           "items": {"object": "list", "data": [{"id": "si_1", "quantity": 1,
               "price": {"id": "price_member", "product": "stripe_prod_member"}}]}})
}

/// The subscription checkout session as `GET /v1/checkout/sessions/{id}` with the expansions answers it.
pub(super) fn session(id: &str, sub: &str) -> Value {
    let mut s = subscription(sub, "active", P0, P1);
    s["plan"]["product"] = json!({"id": "stripe_prod_member", "object": "product", "name": "Membership"});
    json!({"id": id, "object": "checkout.session", "mode": "subscription", "status": "complete",
           "payment_status": "paid", "amount_total": 2_000, "currency": "usd", "metadata": {},
           "customer": {"id": "cus_sub", "object": "customer", "email": EMAIL, "name": "Sub Scriber"},
           "subscription": s, "payment_intent": null})
}

/// A signed-webhook `customer.subscription.<kind>` event created at `created`.
pub(super) fn sub_event(id: &str, kind: &str, created: i64, object: Value) -> Value {
    json!({"id": id, "object": "event", "type": format!("customer.subscription.{kind}"), "created": created,
           "data": {"object": object}})
}

/// A signed-webhook `invoice.payment_succeeded` event.
pub(super) fn invoice_event(id: &str, invoice: &str, sub: Option<&str>, start: i64, end: i64) -> Value {
    json!({"id": id, "object": "event", "type": "invoice.payment_succeeded", "created": start,
           "data": {"object": {"id": invoice, "object": "invoice", "customer": "cus_sub", "subscription": sub,
               "amount_paid": 2_000, "currency": "usd", "billing_reason": if sub.is_some() {"subscription_cycle"} else {"manual"},
               "period_start": start, "period_end": start,
               "lines": {"object": "list", "data": [{"period": {"start": start, "end": end}}]}}}})
}

/// Posts a signed webhook and waits for everything it starts.
pub(super) async fn deliver(d: &Daemon, event: &Value) -> Vec<String> {
    let ids = post_webhook(&d.api, event).await;
    d.api.drain().await;
    ids
}

/// The subscription's `status|live` or `status|ended` as stored.
pub(super) async fn stored(db: &TestDb, stripe_id: &str) -> Vec<String> {
    crate::workflows::harness::texts(
        db,
        "SELECT s.status || '|' || CASE WHEN s.ended_at IS NULL THEN 'live' ELSE 'ended' END AS t \
         FROM subscriptions s JOIN merchant_subscriptions m ON m.id = s.merchant_subscription_id WHERE m.identifier = $1",
        &[stripe_id],
    )
    .await
}

/// Seconds as a step output shows a timestamp (`YYYY-MM-DDTHH:MM:SS`).
pub(super) fn at(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .naive_utc()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}
