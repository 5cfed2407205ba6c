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
//! Other types (and partial refunds that leave money on the charge) are acknowledged and stored nowhere.

use super::{Incoming, SignatureError, parse_json, store, verify_signature};
use crate::http::AppState;
use crate::http::error::ApiError;
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
    store(&state, "stripe", incoming).await
}

/// Our events for one Stripe event.
pub fn map(event: &Value) -> Result<Vec<Incoming>, ApiError> {
    let id = event["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest("a Stripe event needs an id".into()))?;
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
