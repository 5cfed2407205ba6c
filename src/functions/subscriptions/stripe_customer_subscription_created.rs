//! `stripe-customer-subscription-created` — Stripe created a subscription (reference §4; the original returned
//! early unless active or trialing and did nothing else).
//!
//! Trigger `stripe/customer-subscription-created` (the signed `customer.subscription.created` webhook)
//! `{stripeEvent}`. Stripe sends it alongside the checkout's `checkout.session.completed`, in no fixed order. Steps
//! (shared with `stripe-customer-subscription-updated`): "load the subscription" — unknown (the checkout has not
//! run yet): returns `{updated: false, reason}`, the checkout records the state Stripe has then; "record
//! subscription state" — status and period applied unless older than what is stored; if that ended it,
//! "load the subscriber" and sendEvent "send subscription ended event" → `subscription/ended`.
//!
//! Returns `{updated, subscription, previousStatus, ended, planChanged}`.

use crate::functions::Deps;
use crate::functions::event_triggers;
use crate::functions::subscriptions::stripe_customer_subscription_updated::{SUBSCRIPTION_ENDED, sync};
use ingot_actors::{FnError, FunctionDef, RunCtx};
use serde_json::Value;

pub const ID: &str = "stripe-customer-subscription-created";
pub const EVENT: &str = "stripe/customer-subscription-created";

pub fn definition(deps: Deps) -> FunctionDef {
    event_triggers(EVENT, None)
        .into_iter()
        .fold(
            FunctionDef::new(ID, "Stripe Customer Subscription Created", move |ctx| {
                run(deps.clone(), ctx)
            }),
            FunctionDef::trigger,
        )
        .summary("Records the status and period Stripe gives a new subscription once its checkout has recorded it.")
        .services(&[])
        .emits(&[SUBSCRIPTION_ENDED])
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    sync(&deps, &ctx, "record subscription state").await
}
