//! `POST /webhooks/stripe`: verifies `Stripe-Signature` against the raw body (HMAC-SHA256 over `t.payload`,
//! 5-minute tolerance, several `v1` entries, every secret in `STRIPE_WEBHOOK_SECRET` during a rotation), then maps
//! the Stripe event to ours. Stripe's event id is the dedupe id, so Stripe's retries never start a second run.
//!
//! | Stripe event | our event(s) |
//! |---|---|
//! | `checkout.session.completed` | `stripe/checkout-session-completed` `{stripeEvent}` |
//! | `charge.refunded` (fully refunded) | `stripe/refund-processed` `{stripeChargeId, merchantChargeId}` and `commerce/update-purchase-status` `{stripeChargeId, status: "Refunded"}` |
//! | `charge.dispute.created` | `commerce/update-purchase-status` `{stripeChargeId: <the disputed charge>, status: "Disputed"}` |
//! | `customer.subscription.created/updated/deleted` | `stripe/customer-subscription-created/updated/deleted` `{stripeEvent}` |
//! | `invoice.payment_succeeded` | `stripe/invoice-payment-succeeded` `{stripeEvent}` |
//!
//! Other types (and partial refunds that leave money on the charge) are acknowledged and start nothing.
//!
//! Every authenticated delivery is first recorded in `merchant_events` (Stripe's event id unique, the whole
//! payload; reference §5), in the same transaction as the events it maps to — persist, then perform. A delivery
//! whose Stripe id is already recorded stores nothing and starts nothing (`{"ids": [], "duplicate": true}`), even
//! after the intake's 24 h dedupe window. The record needs a merchant account labelled `stripe`; when the data has
//! none, one is created in that transaction (`ma_stripe`, the account the signed webhook comes from) rather than
//! refusing Stripe's deliveries.

use super::{Incoming, SignatureError, parse_json, store_once, verify_signature};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::store::sql::{Param, Stmt};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

pub const TOLERANCE_S: i64 = 300;

pub async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let secrets: Vec<&str> = state
        .config
        .integrations
        .stripe_webhook_secrets
        .iter()
        .map(|s| s.expose())
        .collect();
    if secrets.is_empty() {
        return Err(ApiError::Unavailable(
            "Stripe webhooks are not configured: set STRIPE_WEBHOOK_SECRET".into(),
        ));
    }
    let header = req
        .headers()
        .get("stripe-signature")
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| ApiError::BadRequest("missing Stripe-Signature".into()))?;
    let now_s = ingot_actors::time::now_ms() / 1000;
    verify_signature(header, &body, &secrets, now_s, TOLERANCE_S).map_err(|e| {
        tracing::warn!(error = %e, "stripe webhook refused");
        ApiError::BadRequest(match e {
            SignatureError::Stale => "Stripe-Signature timestamp outside the tolerance".into(),
            _ => "invalid Stripe-Signature".into(),
        })
    })?;
    let event = parse_json(&body)?;
    let incoming = map(&event)?;
    let (prepare, record) = record_delivery(&event, &String::from_utf8_lossy(&body));
    store_once(&state, "stripe", &prepare, &record, incoming).await
}

/// The statements that record a delivery in `merchant_events` (after [`map`] accepted it, so it has an id):
/// ensure a `stripe` merchant account, then insert the event (`payload`: the body as Stripe sent it) once by its
/// Stripe id, `RETURNING id` only if new.
pub fn record_delivery(event: &Value, payload: &str) -> (Vec<Stmt>, Stmt) {
    let stripe_id = event["id"].as_str().unwrap_or_default().to_string();
    let account = Stmt::new(
        "INSERT INTO merchant_accounts (id, label, status) SELECT 'ma_stripe', 'stripe', 1 \
         WHERE NOT EXISTS (SELECT 1 FROM merchant_accounts WHERE label = 'stripe') ON CONFLICT (id) DO NOTHING",
    );
    let mut record = Stmt::new(
        "INSERT INTO merchant_events (id, merchant_account_id, identifier, payload) \
         SELECT $1, ma.id, $2, $3 FROM merchant_accounts ma WHERE ma.label = 'stripe' \
         AND ma.id = (SELECT MIN(id) FROM merchant_accounts WHERE label = 'stripe') \
         ON CONFLICT (identifier) DO NOTHING RETURNING id",
    );
    record.params = vec![
        Param::Text(crate::platform::new_id("me")),
        Param::Text(stripe_id),
        Param::Text(payload.to_string()),
    ];
    (vec![account], record)
}

/// Our events for one Stripe event.
pub fn map(event: &Value) -> Result<Vec<Incoming>, ApiError> {
    let id = event["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest("a Stripe event needs an id".into()))?;
    crate::http::intake::no_nul("id", id).map_err(|e| ApiError::BadRequest(format!("Stripe event: {e}")))?;
    let kind = event["type"].as_str().unwrap_or_default();
    let object = &event["data"]["object"];
    let whole = |name: &str| Incoming {
        name: name.into(),
        data: json!({ "stripeEvent": event }),
        id: format!("stripe:{id}"),
    };
    let status = |charge: &str, status: &str| Incoming {
        name: "commerce/update-purchase-status".into(),
        data: json!({"stripeChargeId": charge, "status": status}),
        id: format!("stripe:{id}:purchase-status"),
    };
    Ok(match kind {
        "checkout.session.completed" => vec![whole("stripe/checkout-session-completed")],
        "charge.refunded" => {
            let charge = object["id"].as_str().unwrap_or_default();
            if object["refunded"].as_bool() == Some(true) && !charge.is_empty() {
                vec![
                    Incoming {
                        name: "stripe/refund-processed".into(),
                        data: json!({"stripeChargeId": charge, "merchantChargeId": charge}),
                        id: format!("stripe:{id}"),
                    },
                    status(charge, "Refunded"),
                ]
            } else {
                Vec::new()
            }
        }
        "charge.dispute.created" => match object["charge"].as_str() {
            Some(charge) => vec![status(charge, "Disputed")],
            None => Vec::new(),
        },
        "customer.subscription.created" => vec![whole("stripe/customer-subscription-created")],
        "customer.subscription.updated" => vec![whole("stripe/customer-subscription-updated")],
        "customer.subscription.deleted" => vec![whole("stripe/customer-subscription-deleted")],
        "invoice.payment_succeeded" => vec![whole("stripe/invoice-payment-succeeded")],
        _ => Vec::new(),
    })
}
