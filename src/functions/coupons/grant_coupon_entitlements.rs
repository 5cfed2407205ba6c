//! `grant-coupon-entitlements` — a special-credit coupon was created: everyone who already bought the product its
//! eligibility condition names gets the credit (reference §3.6).
//!
//! Trigger `coupon/grant-entitlements` `{couponId}` (the admin's coupon creation). Idempotency
//! `event.data.couponId`. Steps (the original's names):
//! 1. "get coupon" — missing: retryable (as the original: the coupon's transaction may not be visible yet); the
//!    run fails after its retries.
//! 2. "check eligibility condition" — no condition, or a type other than `hasValidProductPurchase`: returns
//!    `{granted: 0, skipped: true, reason}`.
//! 3. "get coupon credit entitlement type" — `apply_special_credit`; missing: non-retriable.
//! 4. "find eligible purchases" — Valid purchases of the product, total > 0, no bulk coupon, with a buyer; none:
//!    returns `{granted: 0, eligibleUsers: 0, reason}`.
//! 5. "get unique user ids" — each buyer once, oldest purchase first.
//! 6. "grant entitlements to eligible users" — one step over every buyer: the personal organization (learner
//!    role) and a credit from this coupon unless they hold a live one from it. A buyer without a user row or an
//!    email is counted `failed` and the others go on; a database failure retries the whole step, which then
//!    skips whom it already granted.
//!
//! Returns `{granted, skipped, failed, eligibleUsers, summary: {couponId, productId, grantedUserIds,
//! skippedUserIds, failedUserIds}}`.

use crate::functions::Deps;
use crate::functions::cohorts::cohort_entitlement_sync_workflow::platform_err;
use crate::functions::coupons::grant_coupon_entitlements_for_purchase::grant_credit;
use crate::platform::commerce::coupons::{self, Coupon};
use crate::platform::commerce::{PurchaseStatus, purchases};
use crate::platform::entitlements::{self, APPLY_SPECIAL_CREDIT};
use crate::platform::{json_str, users};
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError, Trigger};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const ID: &str = "grant-coupon-entitlements";
pub const EVENT: &str = "coupon/grant-entitlements";
pub const CONDITION_TYPE: &str = "hasValidProductPurchase";

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Grant Coupon Entitlements", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event(EVENT))
        .idempotency("event.data.couponId")
        .summary("Gives every existing Valid buyer of the product a special-credit coupon names a credit entitlement for it.")
        .services(&[])
        .emits(&[])
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Outcome {
    granted_user_ids: Vec<String>,
    skipped_user_ids: Vec<String>,
    failed_user_ids: Vec<String>,
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let coupon_id = ctx.event["data"]["couponId"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FnError::NonRetriable(format!("{EVENT} has no couponId")))?
        .to_string();

    let coupon: Coupon = ctx
        .step
        .run("get coupon", || async {
            coupons::get_coupon(db, &coupon_id)
                .await
                .map_err(platform_err)?
                .ok_or_else(|| StepError::retryable(format!("Coupon not found: {coupon_id}")))
        })
        .await?;

    let product_id: Option<String> = ctx
        .step
        .run("check eligibility condition", || async {
            let condition = coupon.fields.get("eligibilityCondition");
            Ok(match condition {
                Some(c) if json_str(c, "type") == Some(CONDITION_TYPE) => json_str(c, "productId").map(str::to_string),
                _ => None,
            })
        })
        .await?;
    let Some(product_id) = product_id else {
        return Ok(json!({"granted": 0, "skipped": true,
                         "reason": format!("Coupon has no {CONDITION_TYPE} eligibility condition")}));
    };

    let _type_id: String = ctx
        .step
        .run("get coupon credit entitlement type", || async {
            entitlements::get_entitlement_type(db, APPLY_SPECIAL_CREDIT)
                .await
                .map_err(platform_err)?
                .map(|t| t.id)
                .ok_or_else(|| StepError::fatal("Entitlement type apply_special_credit not found"))
        })
        .await?;

    let buyers: Vec<String> = ctx
        .step
        .run("find eligible purchases", || async {
            Ok(
                purchases::paid_individual_purchases(db, &product_id, &[PurchaseStatus::Valid])
                    .await
                    .map_err(platform_err)?
                    .into_iter()
                    .filter_map(|p| p.user_id)
                    .collect::<Vec<_>>(),
            )
        })
        .await?;
    if buyers.is_empty() {
        return Ok(json!({"granted": 0, "eligibleUsers": 0, "reason": "No eligible purchases"}));
    }
    let user_ids: Vec<String> = ctx
        .step
        .run("get unique user ids", || async {
            let mut seen = std::collections::HashSet::new();
            Ok(buyers.iter().filter(|u| seen.insert(*u)).cloned().collect::<Vec<_>>())
        })
        .await?;

    let out: Outcome = ctx
        .step
        .run("grant entitlements to eligible users", || async {
            let mut out = Outcome::default();
            for user_id in &user_ids {
                let Some(user) = users::get_user(db, user_id).await.map_err(platform_err)? else {
                    out.failed_user_ids.push(user_id.clone());
                    continue;
                };
                match grant_credit(db, &user, &coupon.id, &product_id).await {
                    Ok((_, true)) => out.granted_user_ids.push(user_id.clone()),
                    Ok((_, false)) => out.skipped_user_ids.push(user_id.clone()),
                    Err(e) if e.is_retryable() => return Err(platform_err(e)),
                    Err(_) => out.failed_user_ids.push(user_id.clone()),
                }
            }
            Ok(out)
        })
        .await?;
    Ok(json!({
        "granted": out.granted_user_ids.len(),
        "skipped": out.skipped_user_ids.len(),
        "failed": out.failed_user_ids.len(),
        "eligibleUsers": user_ids.len(),
        "summary": {"couponId": coupon.id, "productId": product_id, "grantedUserIds": out.granted_user_ids,
                    "skippedUserIds": out.skipped_user_ids, "failedUserIds": out.failed_user_ids},
    }))
}
