//! `stripe-subscription-checkout` — a Stripe checkout in `subscription` mode becomes a subscription of the buyer's
//! organization, the `learner` role, and `subscription/created` (reference §3.4,
//! `stripe-subscription-checkout-session-completed`).
//!
//! Trigger `stripe/checkout-session-completed` with `if` mode `subscription` (the signed
//! `checkout.session.completed` webhook). Idempotency on the checkout session id (the original had none; Stripe
//! re-delivering the session must not subscribe twice). Steps (the original's names):
//! 1. "load the merchant account" — label `stripe`; missing: retryable (data an operator adds).
//! 2. "get stripe checkout session" — with the expansions (`subscription`, `subscription.plan.product`, ...);
//!    429 (Retry-After honoured), 5xx and timeouts retry, a 4xx is non-retriable. A session whose mode is not
//!    `subscription` returns `null`.
//! 3. "parse checkout session for subscription" — customer, subscription id, status and period, Stripe product
//!    ([`parse::parse_session`]); what is missing is non-retriable.
//! 4. "load the user" — find or create by email (with a personal organization).
//! 5. "load the organization" — `metadata.organizationId` (missing organization: non-retriable); else the user's
//!    only organization; else (none, or several — the original failed on several) their personal organization.
//! 6. "store the checkout session", 7. "load the merchant product" (missing: non-retriable), 8. "load the
//!    merchant customer" (find or create).
//! 9. "create a merchant subscription" — merchant subscription + subscription with Stripe's status and period,
//!    once per Stripe subscription id.
//! 10. "give member learner role" — the user's membership in that organization (missing: non-retriable) gets
//!     `learner`.
//! 11. sendEvent "send new subscription created event" → `subscription/created` `{subscriptionId,
//!     checkoutSessionId}` with the buyer as `user` (original name `commerce/new-subscription-created`); the
//!     event id is `subscription-created:<subscriptionId>`, so a subscription is announced once.
//!
//! Returns `{subscription, subscriptionInfo}`. Every step is idempotent; a crash re-runs at most the unfinished
//! step.

pub mod parse;

use crate::functions::Deps;
use crate::functions::cohorts::cohort_entitlement_sync_workflow::platform_err;
use crate::integrations::stripe::CheckoutSession;
use crate::platform::commerce::merchants::{self, MerchantAccount, MerchantCustomer, MerchantProduct};
use crate::platform::commerce::subscriptions::{self, NewSubscription, Subscription};
use crate::platform::organizations;
use crate::platform::users::{self, User};
use ingot_actors::{FnError, FunctionDef, RunCtx, SendEvent, StepError};
use parse::SubscriptionInfo;
use serde_json::{Value, json};

pub const ID: &str = "stripe-subscription-checkout";
pub const EVENT: &str = "stripe/checkout-session-completed";
pub const CONDITION: &str = "event.data.stripeEvent.data.object.mode == 'subscription'";
pub const SUBSCRIPTION_CREATED: &str = "subscription/created";

pub fn definition(deps: Deps) -> FunctionDef {
    crate::functions::event_triggers(EVENT, Some(CONDITION))
        .into_iter()
        .fold(
            FunctionDef::new(ID, "Stripe Subscription Checkout", move |ctx| run(deps.clone(), ctx)),
            FunctionDef::trigger,
        )
        .idempotency("event.data.stripeEvent.data.object.id")
        .summary("A Stripe checkout in subscription mode becomes a merchant customer, session and subscription of the buyer's organization, the learner role, then `subscription/created`.")
        .services(&["stripe"])
        .emits(&[SUBSCRIPTION_CREATED])
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let session_id = ctx.event["data"]["stripeEvent"]["data"]["object"]["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FnError::NonRetriable("the Stripe event has no checkout session id".into()))?
        .to_string();

    let account: MerchantAccount = ctx
        .step
        .run("load the merchant account", || async {
            merchants::get_merchant_account(db, "stripe")
                .await
                .map_err(platform_err)?
                .ok_or_else(|| StepError::retryable("Merchant account `stripe` not found"))
        })
        .await?;
    let session: CheckoutSession = ctx
        .step
        .run("get stripe checkout session", || async {
            Ok(deps.integrations.stripe.checkout_session(&session_id).await?)
        })
        .await?;
    if session.mode != "subscription" {
        return Ok(Value::Null);
    }
    let info: SubscriptionInfo = ctx
        .step
        .pure("parse checkout session for subscription", || {
            parse::parse_session(&session).map_err(StepError::fatal)
        })
        .await?;
    let user: User = ctx
        .step
        .run("load the user", || async {
            let (user, _) = users::find_or_create_user(db, &info.email, info.name.as_deref())
                .await
                .map_err(platform_err)?;
            Ok(user)
        })
        .await?;
    let organization_id: String = ctx
        .step
        .run("load the organization", || async {
            if let Some(id) = &info.organization_id {
                return organizations::get_organization(db, id)
                    .await
                    .map_err(platform_err)?
                    .map(|o| o.id)
                    .ok_or_else(|| StepError::fatal(format!("Organization not found: {id}")));
            }
            let mut all = organizations::memberships_of_user(db, &user.id)
                .await
                .map_err(platform_err)?;
            if all.len() == 1 {
                return Ok(all.remove(0).organization.id);
            }
            let personal = organizations::ensure_personal_organization(db, &user)
                .await
                .map_err(platform_err)?;
            Ok(personal.organization.id)
        })
        .await?;
    let _merchant_session: String = ctx
        .step
        .run("store the checkout session", || async {
            subscriptions::store_merchant_session(db, &account.id, &session_id, Some(&organization_id))
                .await
                .map_err(platform_err)
        })
        .await?;
    let product: MerchantProduct = ctx
        .step
        .run("load the merchant product", || async {
            merchants::get_merchant_product(db, &info.product_identifier)
                .await
                .map_err(platform_err)?
                .ok_or_else(|| StepError::fatal(format!("Merchant product not found: {}", info.product_identifier)))
        })
        .await?;
    let customer: MerchantCustomer = ctx
        .step
        .run("load the merchant customer", || async {
            let (c, _) =
                merchants::find_or_create_merchant_customer(db, &account.id, &user.id, &info.customer_identifier)
                    .await
                    .map_err(platform_err)?;
            Ok(c)
        })
        .await?;
    let subscription: Subscription = ctx
        .step
        .run("create a merchant subscription", || async {
            let new = NewSubscription {
                merchant_account_id: account.id.clone(),
                merchant_customer_id: customer.id.clone(),
                merchant_product_id: product.id.clone(),
                product_id: product.product_id.clone(),
                organization_id: Some(organization_id.clone()),
                stripe_subscription_id: info.subscription_identifier.clone(),
            };
            let (s, _) = subscriptions::create_subscription_with_state(db, &new, &info.state)
                .await
                .map_err(platform_err)?;
            Ok(s)
        })
        .await?;
    let _: Vec<String> = ctx
        .step
        .run("give member learner role", || async {
            let m = organizations::get_membership(db, &organization_id, &user.id)
                .await
                .map_err(platform_err)?
                .ok_or_else(|| {
                    StepError::fatal(format!("{} is not a member of organization {organization_id}", user.id))
                })?;
            organizations::add_role_for_member(db, &organization_id, &m.id, "learner")
                .await
                .map_err(platform_err)?;
            organizations::member_role_names(db, &m.id).await.map_err(platform_err)
        })
        .await?;

    let mut event = SendEvent::new(
        SUBSCRIPTION_CREATED,
        json!({"subscriptionId": subscription.id, "checkoutSessionId": session_id}),
    );
    event.user = serde_json::to_value(&user).map_err(|e| FnError::NonRetriable(e.to_string()))?;
    event.id = Some(format!("subscription-created:{}", subscription.id));
    ctx.step
        .send_event("send new subscription created event", vec![event])
        .await?;
    Ok(json!({"subscription": subscription, "subscriptionInfo": info}))
}
