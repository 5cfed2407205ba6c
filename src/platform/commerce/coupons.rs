//! Coupons: bulk (team) coupons and their purchases, special-credit coupons, revocation.
//!
//! A special-credit coupon has `fields.eligibilityCondition = {type: 'hasValidProductPurchase', productId}`;
//! the writers mirror it into `eligibility_condition_type` / `eligibility_product_id` so it can be queried the
//! same way on both backends.

use super::purchases::{Purchase, purchases_redeeming_bulk_coupon_in, purchases_with_bulk_coupon_in};
use crate::platform::{Error, JsonText, Result, json_str, now};
use crate::store::schema::coupons as k;
use crate::store::{Db, DbTx};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct Coupon {
    pub id: String,
    pub organization_id: Option<String>,
    pub code: Option<String>,
    pub expires: Option<NaiveDateTime>,
    #[diesel(deserialize_as = JsonText)]
    pub fields: Value,
    /// -1 = unlimited. For a bulk coupon: the number of seats.
    pub max_uses: i32,
    pub is_default: bool,
    pub merchant_coupon_id: Option<String>,
    /// 1 = active, 0 = revoked.
    pub status: i32,
    pub used_count: i32,
    pub percentage_discount: Option<f64>,
    pub amount_discount_cents: Option<i64>,
    pub restricted_to_product_id: Option<String>,
    pub eligibility_condition_type: Option<String>,
    pub eligibility_product_id: Option<String>,
    pub created_at: NaiveDateTime,
}

/// A bulk coupon with the team purchase(s) that bought it and the seats redeemed with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CouponWithBulkPurchases {
    pub coupon: Coupon,
    /// Purchases whose `bulk_coupon_id` is this coupon, oldest first (the first is the original team purchase).
    pub bulk_purchases: Vec<Purchase>,
    /// Purchases whose `redeemed_bulk_coupon_id` is this coupon (the seats), oldest first.
    pub redeemed_purchases: Vec<Purchase>,
}

impl CouponWithBulkPurchases {
    pub fn original_bulk_purchase(&self) -> Option<&Purchase> {
        <[Purchase]>::first(&self.bulk_purchases)
    }
}

/// A new coupon (checkout, special credits, the demo builders).
#[derive(Debug, Clone, Default)]
pub struct NewCoupon {
    pub id: String,
    pub code: Option<String>,
    pub organization_id: Option<String>,
    pub fields: Value,
    pub max_uses: i32,
    pub merchant_coupon_id: Option<String>,
    pub percentage_discount: Option<f64>,
    pub amount_discount_cents: Option<i64>,
    pub restricted_to_product_id: Option<String>,
}

type Columns = (
    k::id,
    k::organization_id,
    k::code,
    k::expires,
    k::fields,
    k::max_uses,
    k::is_default,
    k::merchant_coupon_id,
    k::status,
    k::used_count,
    k::percentage_discount,
    k::amount_discount_cents,
    k::restricted_to_product_id,
    k::eligibility_condition_type,
    k::eligibility_product_id,
    k::created_at,
);
pub(crate) const COLUMNS: Columns = (
    k::id,
    k::organization_id,
    k::code,
    k::expires,
    k::fields,
    k::max_uses,
    k::is_default,
    k::merchant_coupon_id,
    k::status,
    k::used_count,
    k::percentage_discount,
    k::amount_discount_cents,
    k::restricted_to_product_id,
    k::eligibility_condition_type,
    k::eligibility_product_id,
    k::created_at,
);

/// A coupon by id, or else by code.
pub async fn get_coupon(db: &Db, id_or_code: &str) -> Result<Option<Coupon>> {
    crate::with_conn!(db, read, |c| get_coupon_in(&mut DbTx::from(c), id_or_code).await)
}

/// [`get_coupon`] on a given connection (a read step's).
pub async fn get_coupon_in(tx: &mut DbTx<'_>, id_or_code: &str) -> Result<Option<Coupon>> {
    let rows: Vec<Coupon> = crate::with_tx!(tx, |c| {
        k::table
            .filter(k::id.eq(id_or_code).or(k::code.eq(id_or_code)))
            .select(COLUMNS)
            .load(c)
            .await?
    });
    let by_id = rows.iter().position(|r| r.id == id_or_code);
    Ok(match by_id {
        Some(i) => rows.into_iter().nth(i),
        None => rows.into_iter().next(),
    })
}

/// A coupon with its bulk purchases and redemptions.
pub async fn get_coupon_with_bulk_purchases(db: &Db, id_or_code: &str) -> Result<Option<CouponWithBulkPurchases>> {
    crate::with_conn!(db, read, |c| get_coupon_with_bulk_purchases_in(
        &mut DbTx::from(c),
        id_or_code
    )
    .await)
}

/// [`get_coupon_with_bulk_purchases`] on a given connection (a read step's): the three reads see one snapshot.
pub async fn get_coupon_with_bulk_purchases_in(
    tx: &mut DbTx<'_>,
    id_or_code: &str,
) -> Result<Option<CouponWithBulkPurchases>> {
    let Some(coupon) = get_coupon_in(tx, id_or_code).await? else {
        return Ok(None);
    };
    let bulk_purchases = purchases_with_bulk_coupon_in(tx, &coupon.id).await?;
    let redeemed_purchases = purchases_redeeming_bulk_coupon_in(tx, &coupon.id).await?;
    Ok(Some(CouponWithBulkPurchases {
        coupon,
        bulk_purchases,
        redeemed_purchases,
    }))
}

/// Active special-credit coupons whose eligibility condition names this product.
pub async fn special_credit_coupons_for_product(db: &Db, product_id: &str) -> Result<Vec<Coupon>> {
    Ok(crate::with_conn!(db, read, |c| {
        k::table
            .filter(k::eligibility_product_id.eq(product_id))
            .filter(k::eligibility_condition_type.is_not_null())
            .filter(k::status.eq(1))
            .order((k::created_at, k::id))
            .select(COLUMNS)
            .load(c)
            .await?
    }))
}

/// Creates a coupon unless one with this id exists; returns the stored coupon.
pub async fn ensure_coupon(db: &Db, n: &NewCoupon) -> Result<Coupon> {
    let condition = n.fields.get("eligibilityCondition");
    let condition_type = condition.and_then(|c| json_str(c, "type"));
    let product = condition.and_then(|c| json_str(c, "productId"));
    let fields = if n.fields.is_object() {
        n.fields.clone()
    } else {
        serde_json::json!({})
    };
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(k::table)
            .values((
                k::id.eq(&n.id),
                k::code.eq(&n.code),
                k::organization_id.eq(&n.organization_id),
                k::fields.eq(fields.to_string()),
                k::max_uses.eq(n.max_uses),
                k::merchant_coupon_id.eq(&n.merchant_coupon_id),
                k::percentage_discount.eq(n.percentage_discount),
                k::amount_discount_cents.eq(n.amount_discount_cents),
                k::restricted_to_product_id.eq(&n.restricted_to_product_id),
                k::eligibility_condition_type.eq(condition_type),
                k::eligibility_product_id.eq(product),
                k::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    get_coupon(db, &n.id)
        .await?
        .ok_or_else(|| Error::not_found("coupon", &n.id))
}

/// Deactivates a coupon (status 0). Returns whether it was active.
pub async fn revoke_coupon(db: &Db, id: &str) -> Result<bool> {
    crate::with_conn!(db, write, |c| revoke_coupon_in(&mut DbTx::from(c), id).await)
}

/// [`revoke_coupon`] on a given connection (a transactional step's).
pub async fn revoke_coupon_in(tx: &mut DbTx<'_>, id: &str) -> Result<bool> {
    Ok(crate::with_tx!(tx, |c| {
        diesel::update(k::table.filter(k::id.eq(id)).filter(k::status.ne(0)))
            .set(k::status.eq(0))
            .execute(c)
            .await?
    }) == 1)
}

/// An active coupon of a merchant coupon restricted to a product for an exact amount (the PPP credit coupons are
/// reused per amount), the oldest if several.
pub async fn find_credit_coupon(
    db: &Db,
    merchant_coupon_id: &str,
    restricted_to_product_id: Option<&str>,
    amount_cents: i64,
) -> Result<Option<Coupon>> {
    Ok(crate::with_conn!(db, read, |c| {
        let mut q = k::table
            .filter(k::merchant_coupon_id.eq(merchant_coupon_id))
            .filter(k::amount_discount_cents.eq(amount_cents))
            .filter(k::status.eq(1))
            .select(COLUMNS)
            .into_boxed();
        q = match restricted_to_product_id {
            Some(p) => q.filter(k::restricted_to_product_id.eq(p)),
            None => q.filter(k::restricted_to_product_id.is_null()),
        };
        q.order((k::created_at, k::id)).first(c).await.optional()?
    }))
}
