//! Shared by the checkout, broadcast and end-to-end tests: the daemon's environment, Stripe fakes (sessions and
//! signed webhooks), a hanging server to kill the daemon in the middle of a call, and run/event readers.

use crate::support::process::base_env;
use crate::support::{Api, TestDb};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use ingot::http::webhooks::sign;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use wiremock::MockServer;

pub const WEBHOOK_SECRET: &str = "whsec_test";
pub const PUBLIC_URL: &str = "https://aihero.test";

/// The daemon's environment: Stripe at `stripe`, SMTP at `smtp`, a public URL, a site title and a sender.
pub fn env(db_url: &str, stripe: &str, smtp: &str) -> Vec<(String, String)> {
    let mut env = base_env(db_url);
    for (k, v) in [
        ("STRIPE_SECRET_KEY", "sk_test_b"),
        ("STRIPE_API_BASE_URL", stripe),
        ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("SMTP_URL", smtp),
        ("EMAIL_FROM", "AI Hero <team@aihero.test>"),
        ("NEXT_PUBLIC_URL", PUBLIC_URL),
        ("NEXT_PUBLIC_SITE_TITLE", "AI Hero"),
    ] {
        env.push((k.into(), v.into()));
    }
    env
}

/// The ids of a run's steps, in order (a repeated name has its `:n` suffix).
pub fn step_ids(run: &Value) -> Vec<String> {
    run["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// The step with this id.
pub fn step<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id:?} in {run}"))
}

/// The events a `send_event` step emitted (its output lists their dedupe ids), as the read API shows them.
pub async fn emitted(db: &TestDb, api: &Api, run: &Value, step_id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for external in step(run, step_id)["output"]["ids"].as_array().expect("ids") {
        let ids = texts(
            db,
            "SELECT id AS t FROM events WHERE external_id = $1 AND duplicate = FALSE",
            &[external.as_str().unwrap()],
        )
        .await;
        assert_eq!(ids.len(), 1, "one stored event for {external}");
        out.push(api.get_ok(&format!("/api/v1/events/{}", ids[0])).await);
    }
    out
}

/// A query returning one TEXT column named `t`.
pub async fn texts(db: &TestDb, sql: &str, params: &[&str]) -> Vec<String> {
    use diesel_async::RunQueryDsl;
    #[derive(QueryableByName)]
    struct T {
        #[diesel(sql_type = Text)]
        t: String,
    }
    let sql = db.sql(sql);
    let run = async {
        Ok::<Vec<T>, ingot::store::Error>(ingot::with_conn!(&db.db, read, |c| {
            let mut q = diesel::sql_query(sql).into_boxed();
            for p in params {
                q = q.bind::<Text, _>(p.to_string());
            }
            q.load(c).await?
        }))
    };
    run.await.expect("query").into_iter().map(|r| r.t).collect()
}

/// What a checkout session sells and how it was paid.
#[derive(Clone)]
pub struct Checkout {
    pub session: String,
    pub email: String,
    pub customer: String,
    pub stripe_product: String,
    pub quantity: i64,
    pub charge: String,
    pub amount: i64,
    pub metadata: Value,
    pub discount_coupon: Option<String>,
}

impl Checkout {
    pub fn new(session: &str, email: &str, stripe_product: &str, amount: i64) -> Checkout {
        Checkout {
            session: session.into(),
            email: email.into(),
            customer: format!("cus_{session}"),
            stripe_product: stripe_product.into(),
            quantity: 1,
            charge: format!("ch_{session}"),
            amount,
            metadata: json!({}),
            discount_coupon: None,
        }
    }

    /// The session as `GET /v1/checkout/sessions/{id}` with the expansions answers it.
    pub fn session_json(&self) -> Value {
        let discounts: Vec<Value> = self
            .discount_coupon
            .iter()
            .map(|c| json!({"discount": {"id": "di_1", "coupon": {"id": c, "object": "coupon"}}}))
            .collect();
        json!({
            "id": self.session, "object": "checkout.session", "mode": "payment", "status": "complete",
            "payment_status": "paid", "amount_total": self.amount, "currency": "usd", "metadata": self.metadata,
            "customer": {"id": self.customer, "object": "customer", "email": self.email, "name": "Buyer Name"},
            "line_items": {"object": "list", "data": [{
                "id": "li_1", "quantity": self.quantity,
                "price": {"id": "price_1", "product": {"id": self.stripe_product, "object": "product"}},
                "discounts": discounts,
            }]},
            "payment_intent": {"id": "pi_1", "latest_charge": {"id": self.charge, "amount": self.amount}},
        })
    }

    pub fn path(&self) -> String {
        format!("/v1/checkout/sessions/{}", self.session)
    }
}

/// A Stripe `checkout.session.completed` event for a session (as Stripe sends it: not expanded).
pub fn completed_event(event_id: &str, session: &str, mode: &str, payment_status: &str) -> Value {
    json!({
        "id": event_id, "object": "event", "type": "checkout.session.completed", "api_version": "2024-06-20",
        "data": {"object": {"id": session, "object": "checkout.session", "mode": mode,
                            "payment_status": payment_status, "status": "complete"}},
    })
}

/// POSTs a Stripe webhook signed with [`WEBHOOK_SECRET`]; expects 200 and returns our event ids.
pub async fn post_webhook(api: &Api, event: &Value) -> Vec<String> {
    let body = event.to_string();
    let sig = sign(WEBHOOK_SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
    let resp = crate::support::http_client()
        .post(format!("{}/webhooks/stripe", api.base))
        .header("stripe-signature", sig)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("daemon reachable");
    let status = resp.status().as_u16();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "webhook refused: {answer}");
    answer["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Waits (bounded) until the fake has received `n` requests.
pub async fn until_received(server: &MockServer, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        if server.received_requests().await.unwrap_or_default().len() >= n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fake never received {n} requests"
        );
        tick.tick().await;
    }
}

/// A TCP server that accepts connections and never answers: a call to it hangs until the caller gives up.
pub struct Hang {
    pub port: u16,
    accepted: Arc<AtomicUsize>,
    notify: Arc<tokio::sync::Notify>,
}

impl Hang {
    pub async fn start() -> Hang {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let (accepted, notify) = (Arc::new(AtomicUsize::new(0)), Arc::new(tokio::sync::Notify::new()));
        let (a, n) = (accepted.clone(), notify.clone());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
                a.fetch_add(1, Ordering::SeqCst);
                n.notify_waiters();
            }
        });
        Hang { port, accepted, notify }
    }

    /// Waits (bounded) for the first connection.
    pub async fn until_connected(&self) {
        let wait = async {
            loop {
                let notified = self.notify.notified();
                if self.accepted.load(Ordering::SeqCst) > 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .expect("nothing connected to the hanging server");
    }
}

/// The names of a run's steps, in order, as `GET /api/v1/runs/{id}` lists them.
pub fn step_names(run: &Value) -> Vec<String> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}
