//! `update-purchase-status` — Stripe says a charge was refunded or disputed (or an operator bans a purchase): set
//! the status of the purchase that charge paid (reference §4 "update-purchase-status").
//!
//! Trigger `commerce/update-purchase-status` `{stripeChargeId, status}` (the Stripe webhook emits it for a fully
//! refunded `charge.refunded` → `Refunded` and for `charge.dispute.created` → `Disputed`; the design document and
//! the original platform use the same name, so there is no alias). No idempotency key: setting a status is
//! idempotent.
//!
//! Before any step: no `stripeChargeId`, or a `status` that is not one of Valid, Restricted, Refunded, Disputed,
//! Banned → non-retriable (nothing could ever make the event valid).
//!
//! Transactional step (`store::tx_step`) "update purchase status": finds the merchant charge whose Stripe identifier *or* our own id equals the
//! value, then the purchase it paid, and sets its status. No such charge or purchase → a retryable error, as in
//! the original: a `charge.refunded` can arrive before the checkout that records the charge has run; after the
//! retries the run fails and shows the charge. Returns `{purchaseId, stripeChargeId, previousStatus, status,
//! changed}`; a replay finds the status already set and reports `changed: false`.

use super::refund_entitlements::db_err;
use crate::functions::Deps;
use crate::platform::commerce::PurchaseStatus;
use crate::platform::commerce::purchases;
use crate::platform::json_str;
use crate::store::tx_step;
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError, Trigger};
use serde_json::{Value, json};

pub const ID: &str = "update-purchase-status";
pub const EVENT: &str = "commerce/update-purchase-status";

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Update Purchase Status", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event(EVENT))
        .summary("Sets the status (Refunded, Disputed, Banned, ...) of the purchase a Stripe charge paid.")
        .services(&[])
        .emits(&[])
}

async fn run(_deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let data = &ctx.event["data"];
    let charge = json_str(data, "stripeChargeId")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| FnError::NonRetriable("The event has no stripeChargeId".into()))?;
    let status_name = json_str(data, "status").unwrap_or_default();
    let status = PurchaseStatus::parse(status_name)
        .ok_or_else(|| FnError::NonRetriable(format!("Unknown purchase status {status_name:?}")))?;
    // A transactional step: the status is written in the transaction that records the step's memo.
    tx_step::run(&ctx.step, "update purchase status", move |tx| {
        let charge = charge.clone();
        Box::pin(async move {
            let found = purchases::purchase_for_charge_in(tx, &charge)
                .await
                .map_err(db_err)?
                .ok_or_else(|| StepError::retryable(format!("No purchase found for charge {charge}")))?;
            let previous = found.status;
            let updated = purchases::set_purchase_status_in(tx, &found.id, status)
                .await
                .map_err(db_err)?;
            Ok(json!({
                "purchaseId": updated.id,
                "stripeChargeId": charge,
                "previousStatus": previous,
                "status": updated.status,
                "changed": previous != status,
            }))
        })
    })
    .await
}
