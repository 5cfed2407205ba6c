//! Coupons and credits end to end against the real daemon and a fake Stripe: `grant-coupon-entitlements-for-purchase`
//! (`for_purchase.rs`), `grant-coupon-entitlements` and `create-ppp-credit-coupons` (`grants.rs`), and a kill -9
//! while Stripe creates a coupon, replays, and the PPP purchase from the signed webhook (`durability.rs`). This
//! file holds the shared bed: the demo catalogue, the fake Stripe coupon endpoint and readers.

mod durability;
mod for_purchase;
mod grants;

use crate::support::process::{Daemon, base_env};
use crate::support::{Api, Backend, TestDb};
use ingot::platform::commerce::PurchaseStatus;
use ingot::seed::builders;
use ingot::seed::demo::{self, ids};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Stripe's `POST /v1/coupons`: a forever coupon whose id is fixed by its amount (as a replay with the same
/// idempotency key gets the same coupon from Stripe).
pub(super) struct CreateCoupon;

pub(super) fn form(req: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Respond for CreateCoupon {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let f = form(req);
        let get = |k: &str| {
            f.iter()
                .find(|(x, _)| x == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let amount: i64 = get("amount_off").parse().unwrap_or(0);
        ResponseTemplate::new(200).set_body_json(json!({
            "id": format!("co_credit_{amount}"), "object": "coupon", "amount_off": amount, "currency": "usd",
            "duration": "forever", "name": get("name"), "metadata": {"type": get("metadata[type]")},
            "percent_off": null, "valid": true, "livemode": false,
        }))
    }
}

/// [`CreateCoupon`] answering only after a delay (Stripe has created the coupon; its answer is on the way).
pub(super) struct DelayedCoupon(pub std::time::Duration);

impl Respond for DelayedCoupon {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        CreateCoupon.respond(req).set_delay(self.0)
    }
}

/// Mounts the coupon endpoint on a fake Stripe.
pub(super) async fn stripe() -> MockServer {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/coupons"))
        .respond_with(CreateCoupon)
        .mount(&s)
        .await;
    s
}

/// The coupon creations Stripe received: (idempotency key, form).
pub(super) async fn coupon_posts(s: &MockServer) -> Vec<(String, Vec<(String, String)>)> {
    s.received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/v1/coupons")
        .map(|r| {
            let key = r
                .headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            (key, form(r))
        })
        .collect()
}

/// The form Stripe gets for a special credit of `cents`.
pub(super) fn credit_form(cents: i64, name: &str) -> Vec<(String, String)> {
    [
        ("duration", "forever"),
        ("name", name),
        ("amount_off", &cents.to_string()),
        ("currency", "USD"),
        ("metadata[type]", "special credit"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The demo data and a user per (id, status, cents) who bought the demo workshop.
pub(super) async fn bed(b: Backend, buyers: &[(&str, PurchaseStatus, i64)]) -> TestDb {
    let db = TestDb::new(b).await;
    demo::load(&db.db).await.unwrap();
    for (id, status, cents) in buyers {
        builders::user(&db.db, id, &format!("{id}@example.com"), "Buyer")
            .await
            .unwrap();
        builders::purchase(
            &db.db,
            &format!("purch_{id}"),
            id,
            ids::PRODUCT_WORKSHOP,
            *status,
            *cents,
        )
        .await
        .unwrap();
    }
    db
}

pub(super) fn daemon(db: &TestDb, stripe: &MockServer) -> Daemon {
    let mut env = base_env(&db.url);
    env.push(("STRIPE_SECRET_KEY".into(), "sk_test_b".into()));
    env.push(("STRIPE_API_BASE_URL".into(), stripe.uri()));
    Daemon::start(&env)
}

/// Sends one event, waits, returns the one run it started.
pub(super) async fn one(api: &Api, event: Value) -> Value {
    let ids = api.send(event).await;
    api.drain().await;
    api.only_run(&ids[0]).await
}

/// Live credits (apply_special_credit) of a user: (coupon id, eligibility product) pairs, sorted.
pub(super) async fn credits(db: &TestDb, user: &str) -> Vec<String> {
    let mut v = crate::workflows::harness::texts(
        db,
        "SELECT e.source_id AS t FROM entitlements e JOIN entitlement_types t ON t.id = e.entitlement_type_id \
         WHERE e.user_id = $1 AND t.name = 'apply_special_credit' AND e.source_type = 'COUPON' AND e.deleted_at IS NULL",
        &[user],
    )
    .await;
    v.sort();
    v
}

/// The `coupon/grant-entitlements-for-purchase` event post-purchase-workflow sends.
pub(super) fn for_purchase(user: &str, status: &str, cents: i64, bulk: Option<&str>) -> Value {
    json!({"name": "coupon/grant-entitlements-for-purchase", "data": {
        "purchaseId": format!("purch_{user}"), "userId": user, "productId": ids::PRODUCT_WORKSHOP,
        "purchaseStatus": status, "totalAmount": cents as f64 / 100.0, "totalAmountCents": cents,
        "bulkCouponId": bulk}})
}
