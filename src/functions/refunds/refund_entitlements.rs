//! `refund-entitlements` — a charge was refunded: take back what the purchase gave (reference §3.3, §6.5).
//!
//! Trigger `stripe/refund-processed` `{stripeChargeId, merchantChargeId}` (and the original platform's
//! `commerce/refund-processed`). The Stripe webhook emits it for every fully refunded `charge.refunded`; the
//! support refund API of the web app emits the original name. No idempotency key: every write below only touches
//! live rows or sets a fixed value, so a second delivery changes nothing (the Stripe event id also dedupes it).
//! Reads `stripeChargeId`, else `merchantChargeId`; neither → non-retriable.
//!
//! Steps (2 and 3 are transactional steps, `store::tx_step`: their writes and the step's memo commit in one
//! transaction, so a team refund lands for every seat or for none, and never runs twice once it landed):
//! 1. "get purchase for stripe charge" — the purchase the charge paid (by Stripe id or our merchant charge id).
//!    None → returns `{entitlementsDeleted: 0, reason: "purchase_not_found", stripeChargeId}`; a purchase without
//!    a buyer → `{…, reason: "user_id_not_found"}`.
//! 2. "handle credit entitlements refund" — the buyer's special credits (`apply_special_credit`, source a coupon,
//!    `metadata.eligibilityProductId` = the product): unused ones are soft-deleted, used ones (soft-deleted at a
//!    checkout) are reported as a financial loss. No credit entitlement type in the data → `{type: "none"}`.
//! 3. Individual purchase: "soft delete entitlements for purchase" — the purchase becomes `Refunded` and every
//!    live entitlement it granted (content access and Discord role) is soft-deleted. Team purchase
//!    (`bulkCouponId`) instead: "refund bulk purchase entitlements" — the original purchase and every seat
//!    redeemed from its bulk coupon become `Refunded` with their entitlements soft-deleted; each seat holder loses
//!    their Discord-role entitlements in the team's organization and their membership there (never the team
//!    buyer, never an `owner`); the bulk coupon is deactivated (status 0).
//!
//! Returns, individual: `{purchaseId, userId, isBulkPurchase: false, entitlementsDeleted, creditRefund, reason:
//! "success", stripeChargeId}`; team: `{purchaseId, userId, isBulkPurchase: true, success, totalPurchasesRefunded,
//! entitlementsDeleted, membershipsRemoved, affectedUsers, couponRevoked, creditRefund, reason, stripeChargeId}`.
//!
//! Decisions (reference §9): the original wrapped everything in a catch-all that turned every failure into a
//! "completed" run and never retried (§9.12); here database errors retry like any step and a run that gives up is
//! `failed`. It did not mark an individual purchase `Refunded` (§9.12); the spec decides refund handling does.
//! The bulk refund compared entitlement types by *name* against type ids and so removed no Discord-role
//! entitlement, and its owner check read an unused column (§9.10); here the types are resolved to their ids and
//! the owner check reads the member's roles. Discord roles themselves are removed by
//! `remove-purchase-role-discord` (the webhook's `commerce/update-purchase-status` for the same charge), which
//! also looks at soft-deleted role entitlements, so it works whichever of the two runs first.

use crate::functions::outputs::PurchaseOutput;
use crate::functions::{Deps, event_triggers};
use crate::platform::commerce::purchases;
use crate::platform::commerce::refunds::{self, BulkRefundOutcome};
use crate::platform::entitlements;
use crate::platform::json_str;
use crate::store::tx_step;
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde_json::{Value, json};

pub const ID: &str = "refund-entitlements";
pub const EVENT: &str = "stripe/refund-processed";

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Refund Entitlements", move |ctx| run(deps.clone(), ctx));
    for t in event_triggers(EVENT, None) {
        def = def.trigger(t);
    }
    def.summary("On a refund, marks the purchase Refunded and soft-deletes its entitlements and credits; a team purchase refunds every seat, removes seat holders from the team and deactivates the bulk coupon.")
        .services(&[])
        .emits(&[])
}

/// A platform error inside a step: database failures retry, anything else (missing or bad data) does not.
pub(crate) fn db_err(e: crate::platform::Error) -> StepError {
    if e.is_retryable() {
        StepError::retryable(e.to_string())
    } else {
        StepError::fatal(e.to_string())
    }
}

/// The charge id of a refund event: `stripeChargeId`, else `merchantChargeId`.
pub(crate) fn charge_of(data: &Value) -> Option<String> {
    json_str(data, "stripeChargeId")
        .filter(|s| !s.is_empty())
        .or_else(|| json_str(data, "merchantChargeId").filter(|s| !s.is_empty()))
        .map(str::to_string)
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let charge = charge_of(&ctx.event["data"])
        .ok_or_else(|| FnError::NonRetriable("The event has no stripeChargeId or merchantChargeId".into()))?;
    let db = &deps.db;

    let purchase: Option<PurchaseOutput> = ctx
        .step
        .run("get purchase for stripe charge", || async {
            Ok(purchases::get_purchase_for_stripe_charge(db, &charge)
                .await
                .map_err(db_err)?
                .map(|p| p.purchase.into()))
        })
        .await?;
    let Some(purchase) = purchase else {
        return Ok(json!({"entitlementsDeleted": 0, "reason": "purchase_not_found", "stripeChargeId": charge}));
    };
    let Some(user_id) = purchase.user_id.clone().filter(|u| !u.is_empty()) else {
        return Ok(
            json!({"entitlementsDeleted": 0, "reason": "user_id_not_found", "stripeChargeId": charge,
                         "purchaseId": purchase.id}),
        );
    };

    // Steps 2 and 3 are transactional (`store::tx_step`): their writes commit in the transaction that records the
    // step's memo, so a crash or an error half-way leaves none of them (a team refund is all seats or none).
    let (uid, product_id) = (user_id.clone(), purchase.product_id.clone());
    let credit_refund: Value = tx_step::run(&ctx.step, "handle credit entitlements refund", move |tx| {
        let (user_id, product_id) = (uid.clone(), product_id.clone());
        Box::pin(async move {
            if entitlements::get_entitlement_type_in(tx, entitlements::APPLY_SPECIAL_CREDIT)
                .await
                .map_err(db_err)?
                .is_none()
            {
                return Ok(json!({"type": "none", "revokedIds": [], "usedIds": [],
                                 "summary": "No credit entitlement type"}));
            }
            let r = entitlements::revoke_credit_entitlements_for_product_in(tx, &user_id, &product_id)
                .await
                .map_err(db_err)?;
            let kind = if r.revoked_ids.is_empty() && r.used_ids.is_empty() {
                "none"
            } else {
                "source"
            };
            Ok(json!({
                "type": kind,
                "revokedIds": r.revoked_ids,
                "usedIds": r.used_ids,
                "summary": format!("{} unused credit(s) revoked, {} already used", r.revoked_ids.len(), r.used_ids.len()),
                "financialLossDetails": r.used_ids.iter().map(|id| json!({"entitlementId": id})).collect::<Vec<_>>(),
            }))
        })
    })
    .await?;

    let purchase_id = purchase.id.clone();
    if purchase.bulk_coupon_id.is_some() {
        let bulk: BulkRefundOutcome = tx_step::run(&ctx.step, "refund bulk purchase entitlements", move |tx| {
            let purchase_id = purchase_id.clone();
            Box::pin(async move {
                refunds::refund_bulk_purchase_entitlements_in(tx, &purchase_id)
                    .await
                    .map_err(db_err)
            })
        })
        .await?;
        return Ok(json!({
            "purchaseId": purchase.id,
            "userId": user_id,
            "isBulkPurchase": true,
            "success": true,
            "totalPurchasesRefunded": bulk.total_purchases_refunded,
            "entitlementsDeleted": bulk.entitlements_deleted,
            "membershipsRemoved": bulk.memberships_removed,
            "affectedUsers": bulk.affected_users,
            "couponRevoked": bulk.coupon_revoked,
            "creditRefund": credit_refund,
            "reason": "success",
            "stripeChargeId": charge,
        }));
    }

    let deleted: usize = tx_step::run(&ctx.step, "soft delete entitlements for purchase", move |tx| {
        let purchase_id = purchase_id.clone();
        Box::pin(async move { refunds::refund_purchase_in(tx, &purchase_id).await.map_err(db_err) })
    })
    .await?;
    Ok(json!({
        "purchaseId": purchase.id,
        "userId": user_id,
        "isBulkPurchase": false,
        "entitlementsDeleted": deleted,
        "creditRefund": credit_refund,
        "reason": "success",
        "stripeChargeId": charge,
    }))
}
