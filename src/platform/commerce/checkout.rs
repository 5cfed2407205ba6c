//! `create_merchant_charge_and_purchase` (reference §6.6): record a completed Stripe checkout as a merchant
//! charge, a purchase (with a bulk coupon for team purchases) and a transfer allowance — in one transaction, and
//! at most once per Stripe charge.

use super::PurchaseStatus;
use super::coupons::{self, Coupon};
use super::purchases::{self, Purchase};
use crate::platform::{Error, Result, new_id, now};
use crate::store::Db;
use crate::store::schema::{
    coupons as k, merchant_charges as mch, merchant_coupons as mco, merchant_sessions as ms,
    purchase_user_transfers as put, purchases as p,
};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

/// How long a buyer may transfer a new purchase to someone else.
pub const TRANSFER_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// What the purchase needs from a parsed Stripe checkout session (the workflow parses Stripe's JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParsedCheckoutSession {
    /// The checkout session id (`cs_...`).
    pub checkout_session_id: String,
    /// The payment intent's latest charge id (`ch_...`).
    pub stripe_charge_id: String,
    /// The charge amount in cents.
    pub stripe_charge_amount_cents: i64,
    pub quantity: i32,
    /// The first line item discount's Stripe coupon id.
    pub stripe_coupon_id: Option<String>,
    /// `metadata.appliedPPPStripeCouponId`.
    pub applied_ppp_stripe_coupon_id: Option<String>,
    /// `metadata.usedCouponId` (one of our coupons).
    pub used_coupon_id: Option<String>,
    /// `metadata.upgradedFromPurchaseId`.
    pub upgraded_from_purchase_id: Option<String>,
    pub country: Option<String>,
    /// `metadata.organizationId`.
    pub organization_id: Option<String>,
    /// `metadata.bulk == "true"`.
    pub bulk: bool,
}

/// Who bought what through which merchant rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeAndPurchase {
    pub user_id: String,
    pub product_id: String,
    pub merchant_account_id: String,
    pub merchant_product_id: String,
    pub merchant_customer_id: String,
    pub session: ParsedCheckoutSession,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutOutcome {
    pub purchase: Purchase,
    /// False when the charge had been recorded before (the existing purchase is returned, nothing written).
    pub created: bool,
    pub bulk_coupon: Option<Coupon>,
}

/// Records the checkout. Idempotent on the Stripe charge: the second call returns the first call's purchase.
///
/// Bulk (a team purchase) when quantity > 1, or the buyer already has a bulk coupon for the product, or the
/// session says so, or the buyer already owns the product: the bulk coupon gains `quantity` seats (created with
/// a 100% discount restricted to the product if new). Status is `Restricted` when a PPP merchant coupon was
/// applied, else `Valid`. The buyer may transfer the purchase for [`TRANSFER_WINDOW`] (immediately expired if
/// they already owned the product). Unknown `used_coupon_id` / `upgraded_from_purchase_id` are dropped.
pub async fn create_merchant_charge_and_purchase(db: &Db, input: &ChargeAndPurchase) -> Result<CheckoutOutcome> {
    let s = &input.session;
    if s.stripe_charge_id.is_empty() || s.checkout_session_id.is_empty() {
        return Err(Error::Invalid("a checkout needs a charge id and a session id".into()));
    }
    let quantity = s.quantity.max(1);
    let t = now();
    let access = [PurchaseStatus::Valid.as_str(), PurchaseStatus::Restricted.as_str()];
    let (purchase_id, created): (String, bool) = crate::with_conn!(db, write, |c| {
        crate::write_tx!(c, Error, async |tx| {
            let charge: Option<String> = mch::table
                .filter(mch::identifier.eq(&s.stripe_charge_id))
                .select(mch::id)
                .first(tx)
                .await
                .optional()?;
            if let Some(charge_id) = &charge {
                let existing: Option<String> = p::table
                    .filter(p::merchant_charge_id.eq(charge_id))
                    .select(p::id)
                    .first(tx)
                    .await
                    .optional()?;
                if let Some(id) = existing {
                    return Ok((id, false));
                }
            }
            let charge_id = match charge {
                Some(id) => id,
                None => {
                    let id = new_id("mc");
                    diesel::insert_into(mch::table)
                        .values((
                            mch::id.eq(&id),
                            mch::identifier.eq(&s.stripe_charge_id),
                            mch::user_id.eq(&input.user_id),
                            mch::merchant_account_id.eq(&input.merchant_account_id),
                            mch::merchant_product_id.eq(&input.merchant_product_id),
                            mch::merchant_customer_id.eq(&input.merchant_customer_id),
                            mch::created_at.eq(t),
                        ))
                        .execute(tx)
                        .await?;
                    id
                }
            };
            let owned: Vec<(String, Option<String>, String)> = p::table
                .filter(p::user_id.eq(&input.user_id))
                .filter(p::product_id.eq(&input.product_id))
                .select((p::id, p::bulk_coupon_id, p::status))
                .order((p::created_at, p::id))
                .load(tx)
                .await?;
            let already_owned = owned.iter().any(|(_, _, st)| access.contains(&st.as_str()));
            let owned_bulk_ids: Vec<String> = owned.iter().filter_map(|(_, b, _)| b.clone()).collect();
            let existing_bulk: Option<(String, i32)> = k::table
                .filter(k::id.eq_any(&owned_bulk_ids))
                .filter(k::restricted_to_product_id.eq(&input.product_id))
                .select((k::id, k::max_uses))
                .order((k::created_at, k::id))
                .first(tx)
                .await
                .optional()?;
            let merchant_coupon_id: Option<(String, Option<String>)> = match &s.stripe_coupon_id {
                Some(sc) => mco::table
                    .filter(mco::identifier.eq(sc))
                    .select((mco::id, mco::kind))
                    .first(tx)
                    .await
                    .optional()?,
                None => None,
            };
            let ppp_applied: bool = match &s.applied_ppp_stripe_coupon_id {
                Some(ppp) => {
                    mco::table
                        .filter(mco::identifier.eq(ppp))
                        .filter(mco::kind.eq("ppp"))
                        .count()
                        .get_result::<i64>(tx)
                        .await?
                        > 0
                }
                None => false,
            };
            let is_bulk = quantity > 1 || existing_bulk.is_some() || s.bulk || already_owned;
            let bulk_coupon_id = if !is_bulk {
                None
            } else if let Some((id, max_uses)) = existing_bulk {
                diesel::update(k::table.filter(k::id.eq(&id)))
                    .set(k::max_uses.eq(max_uses.max(0) + quantity))
                    .execute(tx)
                    .await?;
                Some(id)
            } else {
                let id = new_id("coupon");
                diesel::insert_into(k::table)
                    .values((
                        k::id.eq(&id),
                        k::percentage_discount.eq(1.0),
                        k::restricted_to_product_id.eq(&input.product_id),
                        k::max_uses.eq(quantity),
                        k::status.eq(1),
                        k::organization_id.eq(&s.organization_id),
                        k::merchant_coupon_id.eq(merchant_coupon_id.as_ref().map(|(id, _)| id.clone())),
                        k::created_at.eq(t),
                    ))
                    .execute(tx)
                    .await?;
                Some(id)
            };
            diesel::insert_into(ms::table)
                .values((
                    ms::id.eq(new_id("ms")),
                    ms::identifier.eq(&s.checkout_session_id),
                    ms::merchant_account_id.eq(&input.merchant_account_id),
                    ms::organization_id.eq(&s.organization_id),
                    ms::created_at.eq(t),
                ))
                .on_conflict_do_nothing()
                .execute(tx)
                .await?;
            let session_id: String = ms::table
                .filter(ms::identifier.eq(&s.checkout_session_id))
                .select(ms::id)
                .first(tx)
                .await?;
            let restricted = ppp_applied
                || merchant_coupon_id
                    .as_ref()
                    .is_some_and(|(_, kind)| kind.as_deref() == Some("ppp"));
            let status = if restricted {
                PurchaseStatus::Restricted
            } else {
                PurchaseStatus::Valid
            };
            let used_coupon: Option<String> = match &s.used_coupon_id {
                Some(u) => k::table.filter(k::id.eq(u)).select(k::id).first(tx).await.optional()?,
                None => None,
            };
            let upgraded_from: Option<String> = match &s.upgraded_from_purchase_id {
                Some(u) => p::table.filter(p::id.eq(u)).select(p::id).first(tx).await.optional()?,
                None => None,
            };
            let purchase_id = new_id("purch");
            diesel::insert_into(p::table)
                .values((
                    p::id.eq(&purchase_id),
                    p::status.eq(status.as_str()),
                    p::user_id.eq(&input.user_id),
                    p::product_id.eq(&input.product_id),
                    p::merchant_charge_id.eq(&charge_id),
                    p::total_amount_cents.eq(s.stripe_charge_amount_cents),
                    p::bulk_coupon_id.eq(&bulk_coupon_id),
                    p::merchant_session_id.eq(&session_id),
                    p::country.eq(&s.country),
                    p::upgraded_from_id.eq(&upgraded_from),
                    p::coupon_id.eq(&used_coupon),
                    p::organization_id.eq(&s.organization_id),
                    p::created_at.eq(t),
                ))
                .execute(tx)
                .await?;
            diesel::insert_into(put::table)
                .values((
                    put::id.eq(new_id("put")),
                    put::purchase_id.eq(&purchase_id),
                    put::source_user_id.eq(&input.user_id),
                    put::organization_id.eq(&s.organization_id),
                    put::expires_at.eq(if already_owned { t } else { t + TRANSFER_WINDOW }),
                    put::created_at.eq(t),
                ))
                .execute(tx)
                .await?;
            Ok((purchase_id, true))
        })
        .await?
    });
    let purchase = purchases::require_purchase(db, &purchase_id).await?;
    let bulk_coupon = match &purchase.bulk_coupon_id {
        Some(id) => coupons::get_coupon(db, id).await?,
        None => None,
    };
    Ok(CheckoutOutcome {
        purchase,
        created,
        bulk_coupon,
    })
}
