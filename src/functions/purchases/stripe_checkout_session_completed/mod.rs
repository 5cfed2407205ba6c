//! `stripe-checkout-session-completed` — the purchase that starts fulfilment (reference §4 and §6.6): a paid
//! Stripe checkout becomes a merchant charge, session and customer, a purchase, and a `purchase/created` event.
//!
//! Trigger `stripe/checkout-session-completed` (the signed `checkout.session.completed` webhook, see
//! `src/http/webhooks/stripe.rs`) with `if` mode `payment` and payment status `paid`; idempotency on the checkout
//! session id (`event.data.stripeEvent.data.object.id`), so Stripe re-delivering the session starts nothing.
//! Steps:
//! 1. "load the merchant account" — label `stripe`; missing: retryable, as in the original (it is data an
//!    operator adds).
//! 2. "get stripe checkout session" — `GET /v1/checkout/sessions/{id}` with the expansions; 5xx, 429 (honouring
//!    `Retry-After`), timeouts and malformed answers retry; a 4xx is non-retriable.
//! 3. "parse checkout session" — buyer, Stripe product, quantity, the charge and its amount, the first discount's
//!    coupon, the metadata; a session without a customer email, a line item or an expanded charge is
//!    non-retriable ([`parse`]). Also the original's purchase-type classification (falls back to individual).
//! 4. "load the user" — find or create by email (with a personal organization).
//! 5. "load the merchant product" — by Stripe product id; missing: non-retriable.
//! 6. "load the merchant customer" — find or create by Stripe customer id.
//! 7. "load the product" — missing: non-retriable.
//! 8. "create a merchant charge and purchase" — one transaction, at most once per Stripe charge: `Valid`, or
//!    `Restricted` when a PPP coupon was applied; a bulk purchase gets (or adds seats to) its bulk coupon.
//! 9. "send purchase created event" — `purchase/created` `{purchaseId, checkoutSessionId, productType}` with the
//!    buyer as `user`; `productType` is the product's type, `self-paced` when empty.
//!
//! Returns `{purchase, purchaseInfo}`.
//!
//! Decisions: only `paid` sessions run (an unpaid asynchronous payment has no charge yet, and a
//! `no_payment_required` session has none at all). The emitted event's id is `purchase-created:<purchaseId>`,
//! so a purchase is announced once even if the same checkout is processed again after the idempotency window;
//! it is emitted when the purchase already existed too (a run that crashed after the purchase committed must
//! still announce it). A crash anywhere re-runs at most the unfinished step, and every step is idempotent.

pub mod parse;

use crate::functions::Deps;
use crate::functions::outputs::PurchaseOutput;
use crate::platform::commerce::checkout::{self, ChargeAndPurchase};
use crate::platform::commerce::merchants::{self, MerchantAccount, MerchantCustomer, MerchantProduct};
use crate::platform::commerce::products::{self, Product};
use crate::platform::commerce::{PurchaseStatus, purchases};
use crate::platform::users::{self, User};
use crate::store::Db;
use ingot_actors::step::SendEvent;
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use parse::{PurchaseInfo, PurchaseType};
use serde_json::{Value, json};

pub const ID: &str = "stripe-checkout-session-completed";
pub const EVENT: &str = "stripe/checkout-session-completed";
pub const CONDITION: &str = "event.data.stripeEvent.data.object.mode == 'payment' \
     && event.data.stripeEvent.data.object.payment_status == 'paid'";
pub const PURCHASE_CREATED: &str = "purchase/created";

pub fn definition(deps: Deps) -> FunctionDef {
    crate::functions::event_triggers(EVENT, Some(CONDITION))
        .into_iter()
        .fold(
            FunctionDef::new(ID, "Stripe Checkout Session Completed", move |ctx| {
                run(deps.clone(), ctx)
            }),
            FunctionDef::trigger,
        )
        .idempotency("event.data.stripeEvent.data.object.id")
        .summary("A paid Stripe checkout (mode payment) becomes a merchant customer, charge, session and purchase, then `purchase/created`.")
        .services(&["stripe"])
        .emits(&[PURCHASE_CREATED])
}

/// A platform error inside a step: database failures retry, missing rows and bad input do not.
fn step_err(e: crate::platform::Error) -> StepError {
    if e.is_retryable() {
        StepError::retryable(e.to_string())
    } else {
        StepError::fatal(e.to_string())
    }
}

/// The classification needs what the buyer owned before; any failure falls back to an individual purchase.
async fn purchase_type(db: &Db, info: &PurchaseInfo) -> PurchaseType {
    let owned = async {
        let Some(user) = users::get_user_by_email(db, &info.email).await? else {
            return Ok::<_, crate::platform::Error>((false, false));
        };
        let Some(mp) = merchants::get_merchant_product(db, &info.product_identifier).await? else {
            return Ok((false, false));
        };
        let access = [PurchaseStatus::Valid, PurchaseStatus::Restricted];
        let owned = purchases::user_purchases_of_product(db, &user.id, &mp.product_id, &access).await?;
        Ok((
            owned.iter().any(|p| p.bulk_coupon_id.is_some()),
            owned.iter().any(|p| p.bulk_coupon_id.is_none()),
        ))
    };
    let (bulk_coupon, individual) = owned.await.unwrap_or((false, false));
    let s = &info.session;
    parse::classify(s.quantity, s.bulk, bulk_coupon, individual)
}

/// The checkout step's output: shape version 1 is `platform::commerce::checkout::CheckoutOutcome` as releases up
/// to 9a46047 stored it, with the purchase as a [`PurchaseOutput`] and the bulk coupon kept as stored JSON (nothing
/// reads it back).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckoutStep {
    purchase: PurchaseOutput,
    #[serde(default)]
    created: bool,
    #[serde(default)]
    bulk_coupon: Option<Value>,
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let stripe = &deps.integrations.stripe;
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
                .map_err(step_err)?
                .ok_or_else(|| StepError::retryable("Merchant account `stripe` not found"))
        })
        .await?;

    let session: crate::integrations::stripe::CheckoutSession = ctx
        .step
        .run("get stripe checkout session", || async {
            Ok(stripe.checkout_session(&session_id).await?)
        })
        .await?;

    let info: PurchaseInfo = ctx
        .step
        .run("parse checkout session", || async {
            let mut info = parse::parse(&session).map_err(StepError::fatal)?;
            info.purchase_type = purchase_type(db, &info).await;
            Ok(info)
        })
        .await?;

    let user: User = ctx
        .step
        .run("load the user", || async {
            let (user, _) = users::find_or_create_user(db, &info.email, info.name.as_deref())
                .await
                .map_err(step_err)?;
            Ok(user)
        })
        .await?;

    let merchant_product: MerchantProduct = ctx
        .step
        .run("load the merchant product", || async {
            merchants::get_merchant_product(db, &info.product_identifier)
                .await
                .map_err(step_err)?
                .ok_or_else(|| StepError::fatal(format!("Merchant product not found: {}", info.product_identifier)))
        })
        .await?;

    let customer: MerchantCustomer = ctx
        .step
        .run("load the merchant customer", || async {
            let (customer, _) =
                merchants::find_or_create_merchant_customer(db, &account.id, &user.id, &info.customer_identifier)
                    .await
                    .map_err(step_err)?;
            Ok(customer)
        })
        .await?;

    let product: Product = ctx
        .step
        .run("load the product", || async {
            products::get_product_row(db, &merchant_product.product_id)
                .await
                .map_err(step_err)?
                .ok_or_else(|| StepError::fatal(format!("Product not found: {}", merchant_product.product_id)))
        })
        .await?;

    let outcome: CheckoutStep = ctx
        .step
        .run("create a merchant charge and purchase", || async {
            let input = ChargeAndPurchase {
                user_id: user.id.clone(),
                product_id: product.id.clone(),
                merchant_account_id: account.id.clone(),
                merchant_product_id: merchant_product.id.clone(),
                merchant_customer_id: customer.id.clone(),
                session: info.session.clone(),
            };
            let o = checkout::create_merchant_charge_and_purchase(db, &input)
                .await
                .map_err(step_err)?;
            Ok(CheckoutStep {
                purchase: o.purchase.into(),
                created: o.created,
                bulk_coupon: o
                    .bulk_coupon
                    .map(|c| serde_json::to_value(c).map_err(|e| StepError::fatal(e.to_string())))
                    .transpose()?,
            })
        })
        .await?;

    let purchase = &outcome.purchase;
    let product_type = if product.kind.is_empty() {
        "self-paced"
    } else {
        product.kind.as_str()
    };
    let mut event = SendEvent::new(
        PURCHASE_CREATED,
        json!({"purchaseId": purchase.id, "checkoutSessionId": session_id, "productType": product_type}),
    );
    event.user = serde_json::to_value(&user).map_err(|e| FnError::NonRetriable(e.to_string()))?;
    event.id = Some(format!("purchase-created:{}", purchase.id));
    ctx.step.send_event("send purchase created event", vec![event]).await?;

    Ok(json!({"purchase": purchase, "purchaseInfo": info}))
}

#[cfg(test)]
mod tests {
    use super::CheckoutStep;
    use serde_json::{Value, json};

    /// A `CheckoutOutcome` as v1 stored it (its purchase is the captured v1 purchase fixture) replays.
    #[test]
    fn checkout_outcomes_stored_by_v1_replay() {
        let purchase: Value = serde_json::from_str(include_str!(
            "../../../../tests/it/fixtures/step_outputs/v1/purchase_full.json"
        ))
        .unwrap();
        let stored = json!({"purchase": purchase, "created": true, "bulkCoupon": null});
        let step: CheckoutStep = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(step.purchase.id, "purchase_team_1");
        assert!(step.created);
        assert_eq!(serde_json::to_value(&step).unwrap(), stored);
    }
}
