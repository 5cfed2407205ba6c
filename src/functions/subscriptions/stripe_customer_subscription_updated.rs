//! `stripe-customer-subscription-updated` — Stripe changed a subscription (renewed, past due, canceled at period
//! end, ended): our subscription follows (reference §4; the original was a placeholder).
//!
//! Triggers `stripe/customer-subscription-updated` and `stripe/customer-subscription-deleted` (the signed
//! `customer.subscription.updated` / `.deleted` webhooks) `{stripeEvent}`. Steps:
//! 1. "load the subscription" — ours for the Stripe subscription id; unknown: returns `{updated: false, reason}`
//!    (its checkout has not been processed yet; the checkout records the state Stripe has then).
//! 2. "handle subscription status change" — Stripe's status and current period, stamped with the event's
//!    `created`, applied in one transaction unless it would move the subscription back: an older event than the
//!    last applied one, or any change to a subscription that already ended (`canceled`, `incomplete_expired`
//!    are final in Stripe), is ignored; the period never moves back. A deletion is status `canceled` and sets
//!    `ended_at`.
//! 3. When this change ended the subscription: sendEvent "send subscription ended event" → `subscription/ended`
//!    `{subscriptionId, organizationId, userId, status}` with the subscriber as `user` (event id
//!    `subscription-ended:<subscriptionId>`: announced once). `add-subscription-discord-role` consumes it.
//!
//! Returns `{updated, subscription, previousStatus, ended, planChanged}` (`planChanged`: Stripe reported changed
//! items; the product is not changed here). A repeated delivery is deduplicated by Stripe's event id; a replay
//! after that applies nothing new.

use crate::functions::Deps;
use crate::functions::cohorts::cohort_entitlement_sync_workflow::platform_err;
use crate::functions::event_triggers;
use crate::functions::subscriptions::stripe_subscription_checkout::parse;
use crate::platform::commerce::subscriptions::{self, Applied, Subscription};
use ingot_actors::{FnError, FunctionDef, RunCtx, SendEvent};
use serde_json::{Value, json};

pub const ID: &str = "stripe-customer-subscription-updated";
pub const UPDATED: &str = "stripe/customer-subscription-updated";
pub const DELETED: &str = "stripe/customer-subscription-deleted";
pub const SUBSCRIPTION_ENDED: &str = "subscription/ended";

pub fn definition(deps: Deps) -> FunctionDef {
    event_triggers(UPDATED, None)
        .into_iter()
        .chain(event_triggers(DELETED, None))
        .fold(
            FunctionDef::new(ID, "Stripe Customer Subscription Updated", move |ctx| {
                run(deps.clone(), ctx)
            }),
            FunctionDef::trigger,
        )
        .summary("Keeps a subscription's status and period in step with Stripe's subscription updates and deletions (never moved back by an older delivery); an ended subscription emits `subscription/ended`.")
        .services(&[])
        .emits(&[SUBSCRIPTION_ENDED])
}

/// Steps 1–3, shared with `stripe-customer-subscription-created` (`status_step` names step 2).
pub(crate) async fn sync(deps: &Deps, ctx: &RunCtx, status_step: &str) -> Result<Value, FnError> {
    let db = &deps.db;
    let stripe_event = &ctx.event["data"]["stripeEvent"];
    let object = &stripe_event["data"]["object"];
    let stripe_id = object["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FnError::NonRetriable("the Stripe event has no subscription id".into()))?
        .to_string();
    let mut state = parse::stripe_state(object, stripe_event["created"].as_i64());
    if stripe_event["type"] == "customer.subscription.deleted" && state.status.is_empty() {
        state.status = "canceled".into();
    }
    let plan_changed = stripe_event.pointer("/data/previous_attributes/items").is_some();

    let found: Option<Subscription> = ctx
        .step
        .run("load the subscription", || async {
            subscriptions::get_subscription_by_stripe_id(db, &stripe_id)
                .await
                .map_err(platform_err)
        })
        .await?;
    let Some(found) = found else {
        return Ok(json!({"updated": false, "stripeSubscriptionId": stripe_id,
                         "reason": "Subscription not recorded (its checkout records it)"}));
    };
    let applied: Applied = ctx
        .step
        .run(status_step, || async {
            subscriptions::apply_stripe_state(db, &found.id, &state)
                .await
                .map_err(platform_err)
        })
        .await?;
    if applied.ended_now {
        let user_id: Option<String> = ctx
            .step
            .run("load the subscriber", || async {
                subscriptions::subscriber_user_id(db, &found.id)
                    .await
                    .map_err(platform_err)
            })
            .await?;
        let s = &applied.subscription;
        let mut event = SendEvent::new(
            SUBSCRIPTION_ENDED,
            json!({"subscriptionId": s.id, "organizationId": s.organization_id, "userId": user_id,
                   "status": s.status}),
        );
        event.user = json!({"id": user_id});
        event.id = Some(format!("subscription-ended:{}", s.id));
        ctx.step
            .send_event("send subscription ended event", vec![event])
            .await?;
    }
    Ok(json!({
        "updated": applied.applied, "subscription": applied.subscription, "previousStatus": applied.previous_status,
        "ended": applied.ended_now, "planChanged": plan_changed,
    }))
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    sync(&deps, &ctx, "handle subscription status change").await
}
