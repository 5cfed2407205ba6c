//! `stripe-invoice-payment-succeeded` — Stripe collected an invoice: record the payment and, for a subscription,
//! move its paid period forward (reference §4; the original had empty steps).
//!
//! Trigger `stripe/invoice-payment-succeeded` (the signed `invoice.payment_succeeded` webhook) `{stripeEvent}`.
//! Steps (the original's names):
//! 1. "record payment" — the merchant account (`stripe`; missing: retryable), our subscription for the invoice's
//!    Stripe subscription if any, and a `merchant_invoices` row once per Stripe invoice id (amount paid in cents,
//!    currency, billing reason, the paid period).
//! 2. With a subscription we know: "process subscription payment" — the subscription's current period moves
//!    forward to the paid one (never back: an older invoice delivered late changes nothing). An invoice of a
//!    subscription we do not know (yet): "process other payment type" (recorded only). Without a subscription:
//!    "process one-time payment" (recorded only).
//!
//! Returns `{invoice, recorded, kind: "subscription"|"one-time"|"other", subscription}`. Idempotent: the row is
//! unique per invoice id and the period only moves forward.

use crate::functions::Deps;
use crate::functions::cohorts::cohort_entitlement_sync_workflow::platform_err;
use crate::functions::event_triggers;
use crate::functions::subscriptions::stripe_subscription_checkout::parse;
use crate::platform::commerce::merchants;
use crate::platform::commerce::subscriptions::{self, Invoice, Subscription};
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const ID: &str = "stripe-invoice-payment-succeeded";
pub const EVENT: &str = "stripe/invoice-payment-succeeded";

pub fn definition(deps: Deps) -> FunctionDef {
    event_triggers(EVENT, None)
        .into_iter()
        .fold(
            FunctionDef::new(ID, "Stripe Invoice Payment Succeeded", move |ctx| {
                run(deps.clone(), ctx)
            }),
            FunctionDef::trigger,
        )
        .summary("Records a paid Stripe invoice once and moves its subscription's paid period forward.")
        .services(&[])
        .emits(&[])
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recorded {
    invoice: Invoice,
    recorded: bool,
    subscription: Option<Subscription>,
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let invoice = ctx.event["data"]["stripeEvent"]["data"]["object"].clone();
    let invoice_id = invoice["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FnError::NonRetriable("the Stripe event has no invoice id".into()))?
        .to_string();
    let stripe_sub = parse::invoice_subscription(&invoice);
    let (start, end) = parse::invoice_period(&invoice);

    let rec: Recorded = ctx
        .step
        .run("record payment", || async {
            let account = merchants::get_merchant_account(db, "stripe")
                .await
                .map_err(platform_err)?
                .ok_or_else(|| StepError::retryable("Merchant account `stripe` not found"))?;
            let subscription = match &stripe_sub {
                Some(s) => subscriptions::get_subscription_by_stripe_id(db, s)
                    .await
                    .map_err(platform_err)?,
                None => None,
            };
            let (invoice, recorded) = subscriptions::record_invoice(
                db,
                &Invoice {
                    id: String::new(),
                    merchant_account_id: account.id,
                    identifier: invoice_id.clone(),
                    subscription_id: subscription.as_ref().map(|s| s.id.clone()),
                    stripe_subscription_id: stripe_sub.clone(),
                    stripe_customer_id: invoice.get("customer").and_then(parse::id_of).map(str::to_string),
                    amount_paid_cents: invoice["amount_paid"].as_i64().unwrap_or(0),
                    currency: invoice["currency"].as_str().map(str::to_string),
                    billing_reason: invoice["billing_reason"].as_str().map(str::to_string),
                    period_start: start,
                    period_end: end,
                    created_at: crate::platform::now(),
                },
            )
            .await
            .map_err(platform_err)?;
            Ok(Recorded {
                invoice,
                recorded,
                subscription,
            })
        })
        .await?;

    let (kind, subscription): (&str, Option<Subscription>) = match (&stripe_sub, &rec.subscription) {
        (Some(_), Some(s)) => {
            let s: Subscription = ctx
                .step
                .run("process subscription payment", || async {
                    subscriptions::extend_period(db, &s.id, start, end)
                        .await
                        .map_err(platform_err)
                })
                .await?;
            ("subscription", Some(s))
        }
        (Some(_), None) => {
            let _: Value = ctx
                .step
                .run("process other payment type", || async {
                    Ok(json!({"reason": "Subscription not recorded"}))
                })
                .await?;
            ("other", None)
        }
        (None, _) => {
            let _: Value = ctx
                .step
                .run("process one-time payment", || async {
                    Ok(json!({"amountPaidCents": rec.invoice.amount_paid_cents}))
                })
                .await?;
            ("one-time", None)
        }
    };
    Ok(json!({"invoice": rec.invoice, "recorded": rec.recorded, "kind": kind, "subscription": subscription}))
}
