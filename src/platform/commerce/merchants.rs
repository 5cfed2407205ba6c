//! The merchant (Stripe) mirror tables: accounts, products, customers, coupons, sessions and webhook events.

use crate::platform::{Error, JsonText, Result, new_id, now};
use crate::store::Db;
use crate::store::schema::{
    merchant_accounts as ma, merchant_coupons as mco, merchant_customers as mcu, merchant_events as mev,
    merchant_products as mp,
};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct MerchantAccount {
    pub id: String,
    pub label: String,
    pub identifier: Option<String>,
    pub status: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct MerchantProduct {
    pub id: String,
    pub merchant_account_id: String,
    pub product_id: String,
    /// The Stripe product id.
    pub identifier: String,
    pub status: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct MerchantCustomer {
    pub id: String,
    pub merchant_account_id: String,
    pub user_id: String,
    /// The Stripe customer id.
    pub identifier: String,
    pub status: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct MerchantCoupon {
    pub id: String,
    pub merchant_account_id: String,
    /// The Stripe coupon id.
    pub identifier: String,
    pub status: i32,
    pub percentage_discount: Option<f64>,
    pub amount_discount_cents: Option<i64>,
    /// `ppp`, `special`, `special credit`, ...
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

const ACCOUNT: (ma::id, ma::label, ma::identifier, ma::status) = (ma::id, ma::label, ma::identifier, ma::status);
const PRODUCT: (
    mp::id,
    mp::merchant_account_id,
    mp::product_id,
    mp::identifier,
    mp::status,
) = (
    mp::id,
    mp::merchant_account_id,
    mp::product_id,
    mp::identifier,
    mp::status,
);
const CUSTOMER: (
    mcu::id,
    mcu::merchant_account_id,
    mcu::user_id,
    mcu::identifier,
    mcu::status,
) = (
    mcu::id,
    mcu::merchant_account_id,
    mcu::user_id,
    mcu::identifier,
    mcu::status,
);
pub(crate) const COUPON: (
    mco::id,
    mco::merchant_account_id,
    mco::identifier,
    mco::status,
    mco::percentage_discount,
    mco::amount_discount_cents,
    mco::kind,
) = (
    mco::id,
    mco::merchant_account_id,
    mco::identifier,
    mco::status,
    mco::percentage_discount,
    mco::amount_discount_cents,
    mco::kind,
);

/// The merchant account with this label (`stripe`), the oldest if several.
pub async fn get_merchant_account(db: &Db, label: &str) -> Result<Option<MerchantAccount>> {
    Ok(crate::with_conn!(db, read, |c| {
        ma::table
            .filter(ma::label.eq(label))
            .order((ma::created_at, ma::id))
            .select(ACCOUNT)
            .first(c)
            .await
            .optional()?
    }))
}

/// Creates a merchant account unless one with this id exists.
pub async fn ensure_merchant_account(db: &Db, id: &str, label: &str, identifier: Option<&str>) -> Result<()> {
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(ma::table)
            .values((
                ma::id.eq(id),
                ma::label.eq(label),
                ma::identifier.eq(identifier),
                ma::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    Ok(())
}

/// The merchant product with this Stripe product id.
pub async fn get_merchant_product(db: &Db, identifier: &str) -> Result<Option<MerchantProduct>> {
    Ok(crate::with_conn!(db, read, |c| {
        mp::table
            .filter(mp::identifier.eq(identifier))
            .select(PRODUCT)
            .first(c)
            .await
            .optional()?
    }))
}

/// Creates a merchant product unless its Stripe id is known; returns the stored one.
pub async fn ensure_merchant_product(
    db: &Db,
    id: &str,
    merchant_account_id: &str,
    product_id: &str,
    identifier: &str,
) -> Result<MerchantProduct> {
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(mp::table)
            .values((
                mp::id.eq(id),
                mp::merchant_account_id.eq(merchant_account_id),
                mp::product_id.eq(product_id),
                mp::identifier.eq(identifier),
                mp::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    get_merchant_product(db, identifier)
        .await?
        .ok_or_else(|| Error::not_found("merchant product", identifier))
}

pub async fn get_merchant_customer(db: &Db, identifier: &str) -> Result<Option<MerchantCustomer>> {
    Ok(crate::with_conn!(db, read, |c| {
        mcu::table
            .filter(mcu::identifier.eq(identifier))
            .select(CUSTOMER)
            .first(c)
            .await
            .optional()?
    }))
}

/// The merchant customer with this Stripe customer id, created for the user if new. Returns it and whether it
/// was created.
pub async fn find_or_create_merchant_customer(
    db: &Db,
    merchant_account_id: &str,
    user_id: &str,
    identifier: &str,
) -> Result<(MerchantCustomer, bool)> {
    let n = crate::with_conn!(db, write, |c| {
        diesel::insert_into(mcu::table)
            .values((
                mcu::id.eq(new_id("mcus")),
                mcu::merchant_account_id.eq(merchant_account_id),
                mcu::user_id.eq(user_id),
                mcu::identifier.eq(identifier),
                mcu::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    let found = get_merchant_customer(db, identifier)
        .await?
        .ok_or_else(|| Error::not_found("merchant customer", identifier))?;
    Ok((found, n == 1))
}

pub async fn get_merchant_coupon(db: &Db, identifier: &str) -> Result<Option<MerchantCoupon>> {
    Ok(crate::with_conn!(db, read, |c| {
        mco::table
            .filter(mco::identifier.eq(identifier))
            .select(COUPON)
            .first(c)
            .await
            .optional()?
    }))
}

/// An active merchant coupon of a type for an exact amount (`special credit` coupons are reused per amount).
pub async fn find_merchant_coupon_by_amount(db: &Db, kind: &str, amount_cents: i64) -> Result<Option<MerchantCoupon>> {
    Ok(crate::with_conn!(db, read, |c| {
        mco::table
            .filter(mco::kind.eq(kind))
            .filter(mco::amount_discount_cents.eq(amount_cents))
            .filter(mco::status.eq(1))
            .order((mco::created_at, mco::id))
            .select(COUPON)
            .first(c)
            .await
            .optional()?
    }))
}

/// Records a merchant coupon unless its Stripe id is known; returns the stored one.
pub async fn ensure_merchant_coupon(
    db: &Db,
    merchant_account_id: &str,
    identifier: &str,
    kind: &str,
    percentage_discount: Option<f64>,
    amount_discount_cents: Option<i64>,
) -> Result<MerchantCoupon> {
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(mco::table)
            .values((
                mco::id.eq(new_id("mcou")),
                mco::merchant_account_id.eq(merchant_account_id),
                mco::identifier.eq(identifier),
                mco::kind.eq(kind),
                mco::percentage_discount.eq(percentage_discount),
                mco::amount_discount_cents.eq(amount_discount_cents),
                mco::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    get_merchant_coupon(db, identifier)
        .await?
        .ok_or_else(|| Error::not_found("merchant coupon", identifier))
}

/// Stores a Stripe webhook event once by its Stripe id. Returns whether it was new.
pub async fn record_merchant_event(
    db: &Db,
    merchant_account_id: &str,
    identifier: &str,
    payload: &Value,
) -> Result<bool> {
    Ok(crate::with_conn!(db, write, |c| {
        diesel::insert_into(mev::table)
            .values((
                mev::id.eq(new_id("me")),
                mev::merchant_account_id.eq(merchant_account_id),
                mev::identifier.eq(identifier),
                mev::payload.eq(payload.to_string()),
                mev::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    }) == 1)
}

/// A stored Stripe webhook event's payload.
pub async fn get_merchant_event_payload(db: &Db, identifier: &str) -> Result<Option<Value>> {
    let row: Option<JsonText> = crate::with_conn!(db, read, |c| {
        mev::table
            .filter(mev::identifier.eq(identifier))
            .select(mev::payload)
            .first(c)
            .await
            .optional()?
    });
    Ok(row.map(|j| j.0))
}
