//! `grant-coupon-entitlements-for-purchase` — a buyer of a product that unlocks a special credit gets the credit
//! (an `apply_special_credit` entitlement) the checkout later applies (reference §3.6).
//!
//! Trigger `coupon/grant-entitlements-for-purchase` `{purchaseId, userId, productId, purchaseStatus, totalAmount
//! (dollars), totalAmountCents, bulkCouponId}` (emitted by `post-purchase-workflow` for every purchase).
//! Idempotency `event.data.purchaseId`. Steps (the original's names):
//! 1. "check purchase eligibility for coupon entitlements" — Valid or Restricted, amount > 0, no bulk coupon,
//!    a user; else returns `{checked: true, reason}`.
//! 2. "calculate coupon amount in cents" — Valid: the product's price (none: returns `{checked, error: "No
//!    product price found"}`); Restricted (a PPP purchase): what the buyer paid (`totalAmountCents`, else
//!    `round(totalAmount × 100)`).
//! 3. "find coupons for product" — active special-credit coupons whose eligibility condition names the product;
//!    none: returns `{checked, matchingCoupons: 0}`.
//! 4. "get coupon credit entitlement type" and 5. "get user" — missing: returns `{checked, error}` (as the
//!    original: a reference row or user that is missing will not appear by retrying).
//! 6. "check existing entitlement for product" — a live credit for this product already: returns `{checked,
//!    skipped: true, existingEntitlementId}`.
//! 7. Restricted: "find or create merchant coupon for restricted" — a found coupon of exactly the amount, else the
//!    `special credit` merchant coupon of that amount (created in Stripe, `POST /v1/coupons`, when missing) and a
//!    coupon for it with the found coupons' eligibility condition; then "grant entitlement for restricted
//!    purchase". Valid: "find matching coupon for valid purchase" (a coupon of exactly the price; never created)
//!    and, if found, "grant entitlement for valid purchase". A grant puts the credit in the buyer's personal
//!    organization (learner role) unless they hold a live credit from that coupon.
//!
//! Returns `{checked: true, purchaseId, productId, userId, purchaseStatus, amountCents, couponId, entitlementId,
//! granted}`. Decisions: Stripe's 429/5xx retry the step; the Stripe coupon is created with the idempotency key
//! `special-credit-<cents>` and our coupon id is derived from the product and amount, so a crash or a concurrent
//! purchase of the same amount never makes a second coupon; a grant never makes a second live credit.

use crate::functions::Deps;
use crate::functions::cohorts::cohort_entitlement_sync_workflow::platform_err;
use crate::platform::commerce::coupons::{self, Coupon, NewCoupon};
use crate::platform::commerce::merchants::{self, MerchantCoupon};
use crate::platform::commerce::{PurchaseStatus, products};
use crate::platform::entitlements::{self, APPLY_SPECIAL_CREDIT};
use crate::platform::organizations;
use crate::platform::users::{self, User};
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError, Trigger};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const ID: &str = "grant-coupon-entitlements-for-purchase";
pub const EVENT: &str = "coupon/grant-entitlements-for-purchase";
/// The merchant coupon type of special credits.
pub const SPECIAL_CREDIT: &str = "special credit";

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Grant Coupon Entitlements For Purchase", move |ctx| {
        run(deps.clone(), ctx)
    })
    .trigger(Trigger::event(EVENT))
    .idempotency("event.data.purchaseId")
    .summary("Gives the buyer of a product that unlocks a special credit the credit entitlement; a PPP purchase gets a credit coupon of what it paid (created in Stripe if new).")
    .services(&["stripe"])
    .emits(&[])
}

/// The `special credit` merchant coupon of an amount: ours if recorded, else created in Stripe (idempotency key
/// `special-credit-<cents>`, so a retry or a concurrent run reuses Stripe's answer) and recorded.
pub(crate) async fn special_credit_merchant_coupon(
    deps: &Deps,
    amount_cents: i64,
) -> Result<MerchantCoupon, StepError> {
    let db = &deps.db;
    if let Some(found) = merchants::find_merchant_coupon_by_amount(db, SPECIAL_CREDIT, amount_cents)
        .await
        .map_err(platform_err)?
    {
        return Ok(found);
    }
    let account = merchants::get_merchant_account(db, "stripe")
        .await
        .map_err(platform_err)?
        .ok_or_else(|| StepError::fatal("Merchant account `stripe` not found"))?;
    let name = format!("special credit ${}.{:02}", amount_cents / 100, amount_cents % 100);
    let stripe = deps
        .integrations
        .stripe
        .create_coupon(
            &name,
            amount_cents,
            SPECIAL_CREDIT,
            &format!("special-credit-{amount_cents}"),
        )
        .await?;
    merchants::ensure_merchant_coupon(db, &account.id, &stripe.id, SPECIAL_CREDIT, None, Some(amount_cents))
        .await
        .map_err(platform_err)
}

/// Gives the user a credit from a coupon in their personal organization (learner role). (entitlement id, created)
pub(crate) async fn grant_credit(
    db: &crate::store::Db,
    user: &User,
    coupon_id: &str,
    product_id: &str,
) -> Result<(String, bool), crate::platform::Error> {
    let personal = organizations::ensure_personal_organization_with_learner_role(db, user).await?;
    let (e, created) = entitlements::ensure_credit_entitlement(
        db,
        &user.id,
        Some(&personal.organization.id),
        Some(&personal.membership.id),
        coupon_id,
        product_id,
    )
    .await?;
    Ok((e.id, created))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Check {
    eligible: bool,
    reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Granted {
    entitlement_id: String,
    created: bool,
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let data = ctx.event["data"].clone();
    let text = |k: &str| data[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let (purchase_id, user_id, product_id) = (text("purchaseId"), text("userId"), text("productId"));
    let status = text("purchaseStatus").and_then(|s| PurchaseStatus::parse(&s));
    let cents = data["totalAmountCents"]
        .as_i64()
        .or_else(|| {
            let dollars = data["totalAmount"]
                .as_f64()
                .or_else(|| data["totalAmount"].as_str().and_then(|s| s.parse().ok()))?;
            Some((dollars * 100.0).round() as i64)
        })
        .unwrap_or(0);
    let base = json!({"checked": true, "purchaseId": purchase_id, "productId": product_id, "userId": user_id,
                      "purchaseStatus": data["purchaseStatus"]});
    let with = |extra: Value| {
        let mut out = base.clone();
        if let (Some(o), Some(x)) = (out.as_object_mut(), extra.as_object()) {
            o.extend(x.clone());
        }
        out
    };

    let check: Check = ctx
        .step
        .run("check purchase eligibility for coupon entitlements", || async {
            let reason = if !status.is_some_and(PurchaseStatus::grants_access) {
                Some("Purchase status is not Valid or Restricted")
            } else if cents <= 0 {
                Some("Purchase amount is zero")
            } else if text("bulkCouponId").is_some() {
                Some("Team purchases do not earn credits")
            } else if user_id.is_none() || product_id.is_none() {
                Some("No user or product")
            } else {
                None
            };
            Ok(Check {
                eligible: reason.is_none(),
                reason: reason.map(str::to_string),
            })
        })
        .await?;
    if !check.eligible {
        return Ok(with(json!({"reason": check.reason})));
    }
    let (user_id, product_id) = (user_id.unwrap_or_default(), product_id.unwrap_or_default());
    let restricted = status == Some(PurchaseStatus::Restricted);

    let amount: Option<i64> = ctx
        .step
        .run("calculate coupon amount in cents", || async {
            if restricted {
                return Ok(Some(cents));
            }
            let price = products::get_price_for_product(db, &product_id)
                .await
                .map_err(platform_err)?;
            Ok(price.map(|p| p.unit_amount_cents))
        })
        .await?;
    let Some(amount) = amount else {
        return Ok(with(json!({"error": "No product price found"})));
    };

    let found: Vec<Coupon> = ctx
        .step
        .run("find coupons for product", || async {
            coupons::special_credit_coupons_for_product(db, &product_id)
                .await
                .map_err(platform_err)
        })
        .await?;
    if found.is_empty() {
        return Ok(with(json!({"matchingCoupons": 0, "amountCents": amount})));
    }

    let has_type: bool = ctx
        .step
        .run("get coupon credit entitlement type", || async {
            Ok(entitlements::get_entitlement_type(db, APPLY_SPECIAL_CREDIT)
                .await
                .map_err(platform_err)?
                .is_some())
        })
        .await?;
    if !has_type {
        return Ok(with(
            json!({"error": "Entitlement type apply_special_credit not found"}),
        ));
    }
    let user: Option<User> = ctx
        .step
        .run("get user", || async {
            users::get_user(db, &user_id).await.map_err(platform_err)
        })
        .await?;
    let Some(user) = user else {
        return Ok(with(json!({"error": format!("User not found: {user_id}")})));
    };
    let existing: Option<String> = ctx
        .step
        .run("check existing entitlement for product", || async {
            Ok(
                entitlements::credit_entitlements_for_product(db, &user.id, &product_id, false)
                    .await
                    .map_err(platform_err)?
                    .into_iter()
                    .next()
                    .map(|e| e.id),
            )
        })
        .await?;
    if let Some(id) = existing {
        return Ok(with(json!({"skipped": true, "existingEntitlementId": id})));
    }

    let (coupon_id, grant_step): (Option<String>, &str) = if restricted {
        let coupon: Coupon = ctx
            .step
            .run("find or create merchant coupon for restricted", || async {
                if let Some(c) = found.iter().find(|c| c.amount_discount_cents == Some(amount)) {
                    return Ok(c.clone());
                }
                let merchant = special_credit_merchant_coupon(&deps, amount).await?;
                let condition = found[0]
                    .fields
                    .get("eligibilityCondition")
                    .cloned()
                    .unwrap_or(Value::Null);
                coupons::ensure_coupon(
                    db,
                    &NewCoupon {
                        id: format!("coupon_credit_{product_id}_{amount}"),
                        fields: json!({"stackable": true, "eligibilityCondition": condition}),
                        max_uses: -1,
                        merchant_coupon_id: Some(merchant.id),
                        amount_discount_cents: Some(amount),
                        ..NewCoupon::default()
                    },
                )
                .await
                .map_err(platform_err)
            })
            .await?;
        (Some(coupon.id), "grant entitlement for restricted purchase")
    } else {
        let coupon: Option<String> = ctx
            .step
            .run("find matching coupon for valid purchase", || async {
                Ok(found
                    .iter()
                    .find(|c| c.amount_discount_cents == Some(amount))
                    .map(|c| c.id.clone()))
            })
            .await?;
        (coupon, "grant entitlement for valid purchase")
    };
    let Some(coupon_id) = coupon_id else {
        return Ok(with(json!({"amountCents": amount, "couponId": null, "granted": false})));
    };
    let granted: Granted = ctx
        .step
        .run(grant_step, || async {
            let (entitlement_id, created) = grant_credit(db, &user, &coupon_id, &product_id)
                .await
                .map_err(platform_err)?;
            Ok(Granted {
                entitlement_id,
                created,
            })
        })
        .await?;
    Ok(with(json!({
        "amountCents": amount, "couponId": coupon_id, "entitlementId": granted.entitlement_id,
        "granted": granted.created,
    })))
}
