//! `create-ppp-credit-coupons` — every PPP (Restricted) buyer of a product gets a special credit of what they
//! paid, usable on another product (reference §3.6, `create-ppp-credit-coupons-for-purchasers`).
//!
//! Triggers `coupon/create-ppp-credit` and the original `coupon/create-ppp-credit-for-purchasers`
//! `{productId, restrictedToProductId}` (run by hand). Idempotency `event.data.productId`. Steps:
//! 1. "find restricted purchases" — Restricted purchases of the product, total > 0, no bulk coupon, with a buyer;
//!    none: returns `{created: 0, skipped: true, reason}`.
//! 2. "get coupon credit entitlement type" — `apply_special_credit`; missing: non-retriable.
//! 3. "group purchases by amount" — cents → number of purchases.
//! 4. "create merchant coupons for each amount" — the `special credit` merchant coupon of each amount, created in
//!    Stripe (`POST /v1/coupons`, idempotency key `special-credit-<cents>`) when missing. Stripe's 429/5xx retry
//!    the step (amounts already done are found in the database); a refusal (4xx) is reported for that amount
//!    and its buyers get nothing.
//! 5. "create coupons for each unique amount" — a coupon per amount, restricted to `restrictedToProductId`,
//!    eligibility `{hasValidProductPurchase, productId}`: an active one with the same merchant coupon, product
//!    restriction and amount is reused, else one is created with an id derived from the product, restriction
//!    and amount (a repeated step makes no second coupon).
//! 6. "prepare coupon data for entitlements" — (couponId, userId, amount) per purchase.
//! 7. "grant entitlement to user \<userId>" — one step per purchase, all started together (concurrent
//!    `step.run`s: the step API keys them in the order they are created, so a replay matches them; each is
//!    persisted on its own). Each loads the user, ensures the personal organization (learner role) and a live
//!    credit from the coupon; it reports `granted`, `skipped` (they already hold one) or `failed` (no user, no
//!    email). A database failure retries that step alone; the ones that finished are not run again.
//! 8. "aggregate entitlement results".
//!
//! Returns `{created, skipped, failed, couponsCreated, grantedUserIds, skippedUserIds, failedUserIds, summary}`.
//! Limit: a run has at most 1,000 steps (as Inngest), so one event grants at most ~990 purchases.

use crate::functions::Deps;
use crate::functions::cohorts::cohort_entitlement_sync_workflow::platform_err;
use crate::functions::coupons::grant_coupon_entitlements_for_purchase::{grant_credit, special_credit_merchant_coupon};
use crate::functions::event_triggers;
use crate::platform::commerce::coupons::{self, NewCoupon};
use crate::platform::commerce::{PurchaseStatus, purchases};
use crate::platform::entitlements::{self, APPLY_SPECIAL_CREDIT};
use crate::platform::users;
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const ID: &str = "create-ppp-credit-coupons";
pub const EVENT: &str = "coupon/create-ppp-credit";

pub fn definition(deps: Deps) -> FunctionDef {
    event_triggers(EVENT, None)
        .into_iter()
        .fold(
            FunctionDef::new(ID, "Create PPP Credit Coupons", move |ctx| run(deps.clone(), ctx)),
            FunctionDef::trigger,
        )
        .idempotency("event.data.productId")
        .summary("Gives every PPP (Restricted) buyer of a product a special-credit coupon of what they paid, restricted to another product, as a credit entitlement.")
        .services(&["stripe"])
        .emits(&[])
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Restricted {
    user_id: String,
    amount_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Grant {
    coupon_id: String,
    user_id: String,
    amount_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GrantResult {
    user_id: String,
    status: String,
    entitlement_id: Option<String>,
    error: Option<String>,
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let data = &ctx.event["data"];
    let product_id = data["productId"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FnError::NonRetriable(format!("{EVENT} has no productId")))?
        .to_string();
    let restricted_to = data["restrictedToProductId"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string);

    let found: Vec<Restricted> = ctx
        .step
        .run("find restricted purchases", || async {
            Ok(
                purchases::paid_individual_purchases(db, &product_id, &[PurchaseStatus::Restricted])
                    .await
                    .map_err(platform_err)?
                    .into_iter()
                    .filter_map(|p| {
                        p.user_id.map(|user_id| Restricted {
                            user_id,
                            amount_cents: p.total_amount_cents,
                        })
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .await?;
    if found.is_empty() {
        return Ok(json!({"created": 0, "skipped": true, "productId": product_id,
                         "reason": "No restricted purchases"}));
    }
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
    let groups: BTreeMap<i64, usize> = ctx
        .step
        .run("group purchases by amount", || async {
            let mut g = BTreeMap::new();
            for r in &found {
                *g.entry(r.amount_cents).or_insert(0) += 1;
            }
            Ok(g)
        })
        .await?;

    // amount → merchant coupon id, or the refusal.
    let merchant: BTreeMap<i64, Result<String, String>> = ctx
        .step
        .run("create merchant coupons for each amount", || async {
            let mut out = BTreeMap::new();
            for amount in groups.keys() {
                let r = match special_credit_merchant_coupon(&deps, *amount).await {
                    Ok(m) => Ok(m.id),
                    Err(e) if e.is_retryable() => return Err(e),
                    Err(e) => Err(e.message().to_string()),
                };
                out.insert(*amount, r);
            }
            Ok(out)
        })
        .await?;

    let coupon_ids: BTreeMap<i64, String> = ctx
        .step
        .run("create coupons for each unique amount", || async {
            let mut out = BTreeMap::new();
            for (amount, m) in &merchant {
                let Ok(merchant_coupon_id) = m else { continue };
                let existing = coupons::find_credit_coupon(db, merchant_coupon_id, restricted_to.as_deref(), *amount)
                    .await
                    .map_err(platform_err)?;
                let coupon = match existing {
                    Some(c) => c,
                    None => coupons::ensure_coupon(
                        db,
                        &NewCoupon {
                            id: format!(
                                "coupon_ppp_{product_id}_{}_{amount}",
                                restricted_to.as_deref().unwrap_or("any")
                            ),
                            fields: json!({"stackable": true, "eligibilityCondition":
                                {"type": "hasValidProductPurchase", "productId": product_id}}),
                            max_uses: -1,
                            merchant_coupon_id: Some(merchant_coupon_id.clone()),
                            amount_discount_cents: Some(*amount),
                            restricted_to_product_id: restricted_to.clone(),
                            ..NewCoupon::default()
                        },
                    )
                    .await
                    .map_err(platform_err)?,
                };
                out.insert(*amount, coupon.id);
            }
            Ok(out)
        })
        .await?;

    let grants: Vec<Grant> = ctx
        .step
        .pure("prepare coupon data for entitlements", || {
            Ok(found
                .iter()
                .filter_map(|r| {
                    coupon_ids.get(&r.amount_cents).map(|c| Grant {
                        coupon_id: c.clone(),
                        user_id: r.user_id.clone(),
                        amount_cents: r.amount_cents,
                    })
                })
                .collect::<Vec<_>>())
        })
        .await?;

    let results = futures_util::future::join_all(grants.iter().map(|g| {
        let name = format!("grant entitlement to user {}", g.user_id);
        let step = ctx.step.clone();
        let product_id = product_id.clone();
        async move {
            step.run(&name, || async {
                let Some(user) = users::get_user(db, &g.user_id).await.map_err(platform_err)? else {
                    return Ok(failed(g, "User not found".into()));
                };
                match grant_credit(db, &user, &g.coupon_id, &product_id).await {
                    Ok((id, created)) => Ok(GrantResult {
                        user_id: g.user_id.clone(),
                        status: if created { "granted" } else { "skipped" }.into(),
                        entitlement_id: Some(id),
                        error: None,
                    }),
                    Err(e) if e.is_retryable() => Err(platform_err(e)),
                    Err(e) => Ok(failed(g, e.to_string())),
                }
            })
            .await
        }
    }))
    .await;
    let results: Vec<GrantResult> = results.into_iter().collect::<Result<_, _>>()?;

    let summary: Value = ctx
        .step
        .run("aggregate entitlement results", || async {
            let ids = |s: &str| -> Vec<String> {
                results
                    .iter()
                    .filter(|r| r.status == s)
                    .map(|r| r.user_id.clone())
                    .collect()
            };
            let refused: BTreeMap<String, String> = merchant
                .iter()
                .filter_map(|(a, r)| r.as_ref().err().map(|e| (a.to_string(), e.clone())))
                .collect();
            Ok(json!({
                "created": ids("granted").len(), "skipped": ids("skipped").len(), "failed": ids("failed").len(),
                "couponsCreated": coupon_ids.len(), "grantedUserIds": ids("granted"),
                "skippedUserIds": ids("skipped"), "failedUserIds": ids("failed"),
                "summary": {"productId": product_id, "restrictedToProductId": restricted_to,
                            "coupons": coupon_ids, "refusedAmounts": refused},
            }))
        })
        .await?;
    Ok(summary)
}

fn failed(g: &Grant, error: String) -> GrantResult {
    GrantResult {
        user_id: g.user_id.clone(),
        status: "failed".into(),
        entitlement_id: None,
        error: Some(error),
    }
}
