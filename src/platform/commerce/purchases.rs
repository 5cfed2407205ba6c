//! Purchases: lookups (by id, by Stripe charge, by bulk coupon), status changes and moves.

use super::PurchaseStatus;
use super::coupons::{Coupon, get_coupon};
use super::products::{Product, get_product_row};
use crate::platform::users::{User, get_user};
use crate::platform::{Error, JsonText, Result, now};
use crate::store::schema::{content_resource_products as crp, merchant_charges, purchases as p, users};
use crate::store::{Db, DbTx};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::Value;

impl TryFrom<String> for PurchaseStatus {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        PurchaseStatus::parse(&s).ok_or_else(|| format!("unknown purchase status {s:?}"))
    }
}

/// A `purchases` row, selected by field name (`Purchase::as_select()`). Not a step output: steps store
/// [`PurchaseOutput`](crate::functions::outputs::PurchaseOutput).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable)]
#[diesel(table_name = p)]
#[serde(rename_all = "camelCase")]
pub struct Purchase {
    pub id: String,
    pub user_id: Option<String>,
    pub organization_membership_id: Option<String>,
    pub organization_id: Option<String>,
    pub product_id: String,
    pub total_amount_cents: i64,
    pub country: Option<String>,
    pub coupon_id: Option<String>,
    pub merchant_charge_id: Option<String>,
    pub merchant_session_id: Option<String>,
    pub upgraded_from_id: Option<String>,
    #[diesel(deserialize_as = String)]
    pub status: PurchaseStatus,
    /// Set on a team (bulk) purchase: the coupon its seats are redeemed with.
    pub bulk_coupon_id: Option<String>,
    /// Set on a seat redemption: the team purchase's coupon.
    pub redeemed_bulk_coupon_id: Option<String>,
    #[diesel(deserialize_as = JsonText)]
    pub fields: Value,
    pub created_at: NaiveDateTime,
}

/// A purchase with its buyer, product and bulk coupon (what the refund workflows load by charge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseWithDetails {
    pub purchase: Purchase,
    pub user: Option<User>,
    pub product: Option<Product>,
    pub bulk_coupon: Option<Coupon>,
}

/// A new purchase (the demo builders and tests; checkouts go through
/// [`create_merchant_charge_and_purchase`](super::checkout::create_merchant_charge_and_purchase)).
#[derive(Debug, Clone, Default)]
pub struct NewPurchase {
    pub id: String,
    pub user_id: Option<String>,
    pub product_id: String,
    pub organization_id: Option<String>,
    pub total_amount_cents: i64,
    pub status: Option<PurchaseStatus>,
    pub coupon_id: Option<String>,
    pub bulk_coupon_id: Option<String>,
    pub redeemed_bulk_coupon_id: Option<String>,
    pub merchant_charge_id: Option<String>,
    pub merchant_session_id: Option<String>,
    pub country: Option<String>,
}

pub async fn get_purchase(db: &Db, id: &str) -> Result<Option<Purchase>> {
    crate::with_conn!(db, read, |c| get_purchase_in(&mut DbTx::from(c), id).await)
}

/// [`get_purchase`] on a given connection (a transactional step's).
pub async fn get_purchase_in(tx: &mut DbTx<'_>, id: &str) -> Result<Option<Purchase>> {
    Ok(crate::with_tx!(tx, |c| {
        p::table
            .filter(p::id.eq(id))
            .select(Purchase::as_select())
            .first(c)
            .await
            .optional()?
    }))
}

/// [`get_purchase`], missing = [`Error::NotFound`].
pub async fn require_purchase(db: &Db, id: &str) -> Result<Purchase> {
    get_purchase(db, id)
        .await?
        .ok_or_else(|| Error::not_found("purchase", id))
}

/// [`require_purchase`] on a given connection (a transactional step's).
pub async fn require_purchase_in(tx: &mut DbTx<'_>, id: &str) -> Result<Purchase> {
    get_purchase_in(tx, id)
        .await?
        .ok_or_else(|| Error::not_found("purchase", id))
}

/// The purchase a charge paid (its Stripe charge id, or our merchant charge id), without its details.
pub async fn purchase_for_charge_in(tx: &mut DbTx<'_>, charge: &str) -> Result<Option<Purchase>> {
    let charge_id: Option<String> = crate::with_tx!(&mut *tx, |c| {
        merchant_charges::table
            .filter(
                merchant_charges::identifier
                    .eq(charge)
                    .or(merchant_charges::id.eq(charge)),
            )
            .select(merchant_charges::id)
            .first(c)
            .await
            .optional()?
    });
    let Some(charge_id) = charge_id else {
        return Ok(None);
    };
    Ok(crate::with_tx!(tx, |c| {
        p::table
            .filter(p::merchant_charge_id.eq(&charge_id))
            .select(Purchase::as_select())
            .first(c)
            .await
            .optional()?
    }))
}

/// The purchase paid by a Stripe charge (its id, or our merchant charge id), with buyer, product and bulk coupon.
pub async fn get_purchase_for_stripe_charge(db: &Db, charge: &str) -> Result<Option<PurchaseWithDetails>> {
    let purchase = crate::with_conn!(db, read, |c| purchase_for_charge_in(&mut DbTx::from(c), charge).await)?;
    let Some(purchase) = purchase else {
        return Ok(None);
    };
    let user = match &purchase.user_id {
        Some(u) => get_user(db, u).await?,
        None => None,
    };
    let product = get_product_row(db, &purchase.product_id).await?;
    let bulk_coupon = match &purchase.bulk_coupon_id {
        Some(b) => get_coupon(db, b).await?,
        None => None,
    };
    Ok(Some(PurchaseWithDetails {
        purchase,
        user,
        product,
        bulk_coupon,
    }))
}

/// Sets a purchase's status; setting the status it has changes nothing.
pub async fn set_purchase_status(db: &Db, id: &str, status: PurchaseStatus) -> Result<Purchase> {
    crate::with_conn!(db, write, |c| set_purchase_status_in(&mut DbTx::from(c), id, status)
        .await)
}

/// [`set_purchase_status`] on a given connection (a transactional step's).
pub async fn set_purchase_status_in(tx: &mut DbTx<'_>, id: &str, status: PurchaseStatus) -> Result<Purchase> {
    let n = crate::with_tx!(&mut *tx, |c| {
        diesel::update(p::table.filter(p::id.eq(id)))
            .set(p::status.eq(status.as_str()))
            .execute(c)
            .await?
    });
    if n == 0 {
        return Err(Error::not_found("purchase", id));
    }
    require_purchase_in(tx, id).await
}

/// Sets the status of the purchase a Stripe charge paid (`update-purchase-status`).
pub async fn set_purchase_status_for_charge(db: &Db, charge: &str, status: PurchaseStatus) -> Result<Purchase> {
    let found = get_purchase_for_stripe_charge(db, charge)
        .await?
        .ok_or_else(|| Error::not_found("purchase for charge", charge))?;
    set_purchase_status(db, &found.purchase.id, status).await
}

/// Moves a purchase into an organization (a transfer to another user).
pub async fn move_purchase_to_organization(db: &Db, id: &str, organization_id: &str) -> Result<Purchase> {
    let n = crate::with_conn!(db, write, |c| {
        diesel::update(p::table.filter(p::id.eq(id)))
            .set(p::organization_id.eq(organization_id))
            .execute(c)
            .await?
    });
    if n == 0 {
        return Err(Error::not_found("purchase", id));
    }
    require_purchase(db, id).await
}

/// Seat redemptions of a bulk coupon (purchases whose `redeemed_bulk_coupon_id` is it), oldest first, on a given
/// connection (a read step's, or a transactional step's).
pub async fn purchases_redeeming_bulk_coupon_in(tx: &mut DbTx<'_>, coupon_id: &str) -> Result<Vec<Purchase>> {
    Ok(crate::with_tx!(tx, |c| {
        p::table
            .filter(p::redeemed_bulk_coupon_id.eq(coupon_id))
            .order((p::created_at, p::id))
            .select(Purchase::as_select())
            .load(c)
            .await?
    }))
}

/// Team purchases whose seats a coupon redeems (`bulk_coupon_id`), oldest first.
pub async fn purchases_with_bulk_coupon(db: &Db, coupon_id: &str) -> Result<Vec<Purchase>> {
    crate::with_conn!(db, read, |c| purchases_with_bulk_coupon_in(
        &mut DbTx::from(c),
        coupon_id
    )
    .await)
}

/// [`purchases_with_bulk_coupon`] on a given connection (a read step's).
pub async fn purchases_with_bulk_coupon_in(tx: &mut DbTx<'_>, coupon_id: &str) -> Result<Vec<Purchase>> {
    Ok(crate::with_tx!(tx, |c| {
        p::table
            .filter(p::bulk_coupon_id.eq(coupon_id))
            .order((p::created_at, p::id))
            .select(Purchase::as_select())
            .load(c)
            .await?
    }))
}

/// Individual, paid purchases of a product in these statuses that have a buyer, oldest first — the purchases
/// special credits are granted for (no bulk coupon, total > 0).
pub async fn paid_individual_purchases(
    db: &Db,
    product_id: &str,
    statuses: &[PurchaseStatus],
) -> Result<Vec<Purchase>> {
    let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    Ok(crate::with_conn!(db, read, |c| {
        p::table
            .filter(p::product_id.eq(product_id))
            .filter(p::status.eq_any(&statuses))
            .filter(p::total_amount_cents.gt(0))
            .filter(p::bulk_coupon_id.is_null())
            .filter(p::user_id.is_not_null())
            .order((p::created_at, p::id))
            .select(Purchase::as_select())
            .load(c)
            .await?
    }))
}

/// A user's purchases of a product in these statuses, oldest first.
pub async fn user_purchases_of_product(
    db: &Db,
    user_id: &str,
    product_id: &str,
    statuses: &[PurchaseStatus],
) -> Result<Vec<Purchase>> {
    let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    Ok(crate::with_conn!(db, read, |c| {
        p::table
            .filter(p::user_id.eq(user_id))
            .filter(p::product_id.eq(product_id))
            .filter(p::status.eq_any(&statuses))
            .order((p::created_at, p::id))
            .select(Purchase::as_select())
            .load(c)
            .await?
    }))
}

/// Creates a purchase unless one with this id exists; returns the stored purchase.
pub async fn ensure_purchase(db: &Db, n: &NewPurchase) -> Result<Purchase> {
    let status = n.status.unwrap_or(PurchaseStatus::Valid);
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(p::table)
            .values((
                p::id.eq(&n.id),
                p::user_id.eq(&n.user_id),
                p::product_id.eq(&n.product_id),
                p::organization_id.eq(&n.organization_id),
                p::total_amount_cents.eq(n.total_amount_cents),
                p::status.eq(status.as_str()),
                p::coupon_id.eq(&n.coupon_id),
                p::bulk_coupon_id.eq(&n.bulk_coupon_id),
                p::redeemed_bulk_coupon_id.eq(&n.redeemed_bulk_coupon_id),
                p::merchant_charge_id.eq(&n.merchant_charge_id),
                p::merchant_session_id.eq(&n.merchant_session_id),
                p::country.eq(&n.country),
                p::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    require_purchase(db, &n.id).await
}

/// Buyers (sorted by email) with a `Valid` purchase of any live product that sells a resource (e.g. an event's
/// attendees for a reminder).
pub async fn valid_purchasers_of_resource(db: &Db, resource_id: &str) -> Result<Vec<User>> {
    Ok(crate::with_conn!(db, read, |c| {
        users::table
            .filter(
                users::id.nullable().eq_any(
                    p::table
                        .inner_join(crp::table.on(crp::product_id.eq(p::product_id)))
                        .filter(crp::resource_id.eq(resource_id))
                        .filter(crp::deleted_at.is_null())
                        .filter(p::status.eq(PurchaseStatus::Valid.as_str()))
                        .select(p::user_id),
                ),
            )
            .order(users::email)
            .select((users::id, users::name, users::email))
            .load(c)
            .await?
    }))
}

/// All of a user's purchases, oldest first, on a given connection (a read step's).
pub async fn purchases_of_user_in(tx: &mut DbTx<'_>, user_id: &str) -> Result<Vec<Purchase>> {
    Ok(crate::with_tx!(tx, |c| {
        p::table
            .filter(p::user_id.eq(user_id))
            .order((p::created_at, p::id))
            .select(Purchase::as_select())
            .load(c)
            .await?
    }))
}

/// One page of the purchases in these statuses that have a buyer, by id, starting after `after` (keyset paging
/// for backfills such as `sync-purchase-tags`); at most `limit`. On a given connection (a read step's).
pub async fn purchases_page_with_status_in(
    tx: &mut DbTx<'_>,
    statuses: &[PurchaseStatus],
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Purchase>> {
    let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    let after = after.unwrap_or("");
    Ok(crate::with_tx!(tx, |c| {
        p::table
            .filter(p::status.eq_any(&statuses))
            .filter(p::user_id.is_not_null())
            .filter(p::id.gt(after))
            .order(p::id)
            .limit(limit)
            .select(Purchase::as_select())
            .load(c)
            .await?
    }))
}
