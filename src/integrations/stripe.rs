//! Stripe: the lookups the commerce workflows make (checkout sessions with their expansions, charges, refunds,
//! subscriptions, customers) and the few writes (refund, coupon, customer update). POSTs are form-encoded and carry
//! an `Idempotency-Key`, so a retried step never refunds twice.

use super::config::IntegrationsConfig;
use super::http::{HttpService, Request, Val};
use super::{or_placeholder, require};
use crate::config::Secret;
use ingot_actors::service::ServiceError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The expansions post-purchase processing reads.
pub const CHECKOUT_EXPAND: &[&str] = &[
    "customer",
    "line_items.data.price.product",
    "line_items.data.discounts",
    "payment_intent.latest_charge",
    "subscription",
    "subscription.plan.product",
];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckoutSession {
    pub id: String,
    pub mode: String,
    pub status: Option<String>,
    pub payment_status: Option<String>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// Everything else (expanded `customer`, `line_items`, `payment_intent`, `subscription`, ...).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    pub amount_refunded: i64,
    pub refunded: bool,
    pub customer: Option<String>,
    pub payment_intent: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    pub charge: Option<String>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Subscription {
    pub id: String,
    pub status: String,
    pub customer: Option<Value>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Customer {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Coupon {
    pub id: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct List<T> {
    data: Vec<T>,
}

#[derive(Clone)]
pub struct Stripe {
    pub http: HttpService,
    key: Option<Secret>,
    dry_run: bool,
}

impl Stripe {
    pub fn new(http: HttpService, cfg: &IntegrationsConfig) -> Stripe {
        Stripe {
            http,
            key: cfg.stripe_secret_key.clone(),
            dry_run: cfg.dry_run,
        }
    }

    fn req(&self, req: Request) -> Result<Request, ServiceError> {
        require("stripe", self.dry_run, &[("STRIPE_SECRET_KEY", self.key.is_some())])?;
        Ok(req.secret_header(
            "authorization",
            format!("Bearer {}", or_placeholder(&self.key).expose()),
        ))
    }

    async fn get<T: DeserializeOwned>(&self, path: String, expand: &[&str]) -> Result<T, ServiceError> {
        let mut req = Request::get(path);
        for e in expand {
            req = req.query("expand[]", *e);
        }
        self.http.json(self.req(req)?).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        idempotency_key: &str,
        form: Vec<(String, String)>,
    ) -> Result<T, ServiceError> {
        let req = Request::post(path)
            .header("idempotency-key", idempotency_key)
            .form(form.into_iter().map(|(k, v)| (k, Val::Plain(v))).collect());
        self.http.json(self.req(req)?).await
    }

    pub async fn checkout_session(&self, id: &str) -> Result<CheckoutSession, ServiceError> {
        self.get(format!("v1/checkout/sessions/{id}"), CHECKOUT_EXPAND).await
    }

    /// The session as Stripe stores it, nothing expanded: enough for its `metadata` (`shortlink-attribution`).
    pub async fn checkout_session_unexpanded(&self, id: &str) -> Result<CheckoutSession, ServiceError> {
        self.get(format!("v1/checkout/sessions/{id}"), &[]).await
    }

    pub async fn charge(&self, id: &str) -> Result<Charge, ServiceError> {
        self.get(format!("v1/charges/{id}"), &[]).await
    }

    /// The refunds of a charge (newest first, up to 100).
    pub async fn refunds_for_charge(&self, charge_id: &str) -> Result<Vec<Refund>, ServiceError> {
        let req = Request::get("v1/refunds")
            .query("charge", charge_id)
            .query("limit", "100");
        let list: List<Refund> = self.http.json(self.req(req)?).await?;
        Ok(list.data)
    }

    pub async fn subscription(&self, id: &str) -> Result<Subscription, ServiceError> {
        self.get(format!("v1/subscriptions/{id}"), &["plan.product", "customer"])
            .await
    }

    pub async fn customer(&self, id: &str) -> Result<Customer, ServiceError> {
        self.get(format!("v1/customers/{id}"), &[]).await
    }

    /// Refunds a charge in full. `idempotency_key` should be stable across retries (e.g. the run and step).
    pub async fn refund_charge(&self, charge_id: &str, idempotency_key: &str) -> Result<Refund, ServiceError> {
        self.post("v1/refunds", idempotency_key, vec![("charge".into(), charge_id.into())])
            .await
    }

    /// A forever coupon of `amount_off` cents in USD.
    pub async fn create_coupon(
        &self,
        name: &str,
        amount_off: i64,
        coupon_type: &str,
        idempotency_key: &str,
    ) -> Result<Coupon, ServiceError> {
        let form = vec![
            ("duration".into(), "forever".into()),
            ("name".into(), name.into()),
            ("amount_off".into(), amount_off.to_string()),
            ("currency".into(), "USD".into()),
            ("metadata[type]".into(), coupon_type.into()),
        ];
        self.post("v1/coupons", idempotency_key, form).await
    }

    /// Updates a customer's email and name, merging metadata.
    pub async fn update_customer(
        &self,
        id: &str,
        email: &str,
        name: Option<&str>,
        metadata: &BTreeMap<String, String>,
        idempotency_key: &str,
    ) -> Result<Customer, ServiceError> {
        let mut form = vec![("email".to_string(), email.to_string())];
        if let Some(n) = name {
            form.push(("name".into(), n.into()));
        }
        form.extend(metadata.iter().map(|(k, v)| (format!("metadata[{k}]"), v.clone())));
        self.post(&format!("v1/customers/{id}"), idempotency_key, form).await
    }
}
