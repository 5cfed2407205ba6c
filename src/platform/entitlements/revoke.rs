//! Soft deletes of entitlements (by purchase, by coupon, by cohort resource, by organization) and queries over
//! credits. Each only touches live rows, so repeating one changes nothing and reports 0.

use super::{
    APPLY_SPECIAL_CREDIT, COLUMNS, Entitlement, SourceType, entitlements_of_user, entitlements_of_user_in,
    require_entitlement_type, require_entitlement_type_in,
};
use crate::platform::{Result, json_str, now};
use crate::store::schema::entitlements as e;
use crate::store::{Db, DbTx};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

/// What revoking a product's special credits did (reference §3.3 "handle credit entitlements refund").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditRevocation {
    /// Unused credits, now soft-deleted.
    pub revoked_ids: Vec<String>,
    /// Credits already used at a checkout (deleted before): a financial loss to report, nothing to revoke.
    pub used_ids: Vec<String>,
}

async fn soft_delete_ids(db: &Db, ids: &[String]) -> Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    crate::with_conn!(db, write, |c| soft_delete_ids_in(&mut DbTx::from(c), ids).await)
}

async fn soft_delete_ids_in(tx: &mut DbTx<'_>, ids: &[String]) -> Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let t = now();
    Ok(crate::with_tx!(tx, |c| {
        diesel::update(e::table.filter(e::id.eq_any(ids)).filter(e::deleted_at.is_null()))
            .set((e::deleted_at.eq(t), e::updated_at.eq(t)))
            .execute(c)
            .await?
    }))
}

/// Soft-deletes one entitlement; false if it was not live (or does not exist).
pub async fn soft_delete_entitlement(db: &Db, id: &str) -> Result<bool> {
    Ok(soft_delete_ids(db, &[id.to_string()]).await? == 1)
}

/// Soft-deletes every live entitlement a purchase granted (any type, any user). Returns how many.
pub async fn soft_delete_purchase_entitlements(db: &Db, purchase_id: &str) -> Result<usize> {
    crate::with_conn!(db, write, |c| soft_delete_purchase_entitlements_in(
        &mut DbTx::from(c),
        purchase_id
    )
    .await)
}

/// [`soft_delete_purchase_entitlements`] on a given connection (a transactional step's).
pub async fn soft_delete_purchase_entitlements_in(tx: &mut DbTx<'_>, purchase_id: &str) -> Result<usize> {
    let t = now();
    Ok(crate::with_tx!(tx, |c| {
        diesel::update(
            e::table
                .filter(e::source_type.eq(SourceType::Purchase.as_str()))
                .filter(e::source_id.eq(purchase_id))
                .filter(e::deleted_at.is_null()),
        )
        .set((e::deleted_at.eq(t), e::updated_at.eq(t)))
        .execute(c)
        .await?
    }))
}

/// Soft-deletes the live entitlements of these types a purchase granted to one user (a transfer's source user).
pub async fn soft_delete_purchase_entitlements_of_types(
    db: &Db,
    purchase_id: &str,
    user_id: &str,
    type_ids: &[String],
) -> Result<usize> {
    let t = now();
    Ok(crate::with_conn!(db, write, |c| {
        diesel::update(
            e::table
                .filter(e::source_type.eq(SourceType::Purchase.as_str()))
                .filter(e::source_id.eq(purchase_id))
                .filter(e::user_id.eq(user_id))
                .filter(e::entitlement_type_id.eq_any(type_ids))
                .filter(e::deleted_at.is_null()),
        )
        .set((e::deleted_at.eq(t), e::updated_at.eq(t)))
        .execute(c)
        .await?
    }))
}

/// Marks the user's special credits from these coupons as used (soft-deleted) — the coupons applied at a
/// checkout. Returns how many were live.
pub async fn mark_coupon_credits_used(db: &Db, user_id: &str, coupon_ids: &[String]) -> Result<usize> {
    let ty = require_entitlement_type(db, APPLY_SPECIAL_CREDIT).await?;
    let t = now();
    Ok(crate::with_conn!(db, write, |c| {
        diesel::update(
            e::table
                .filter(e::user_id.eq(user_id))
                .filter(e::entitlement_type_id.eq(&ty.id))
                .filter(e::source_type.eq(SourceType::Coupon.as_str()))
                .filter(e::source_id.eq_any(coupon_ids))
                .filter(e::deleted_at.is_null()),
        )
        .set((e::deleted_at.eq(t), e::updated_at.eq(t)))
        .execute(c)
        .await?
    }))
}

/// Soft-deletes the user's live entitlements of a type that cover any of these content ids (e.g. workshops
/// removed from a cohort), optionally only those from one purchase. Returns the ids soft-deleted.
pub async fn soft_delete_content_entitlements(
    db: &Db,
    user_id: &str,
    type_id: &str,
    source_purchase_id: Option<&str>,
    content_ids: &[String],
) -> Result<Vec<String>> {
    let ids: Vec<String> = entitlements_of_user(db, user_id, &[type_id.to_string()], false)
        .await?
        .into_iter()
        .filter(|x| source_purchase_id.is_none_or(|p| x.source_type == "PURCHASE" && x.source_id == p))
        .filter(|x| x.content_ids().iter().any(|c| content_ids.iter().any(|w| w == c)))
        .map(|x| x.id)
        .collect();
    soft_delete_ids(db, &ids).await?;
    Ok(ids)
}

/// Soft-deletes a user's live entitlements of these types within an organization (a bulk refund's Discord-role
/// entitlements). Returns how many.
pub async fn soft_delete_user_entitlements_in_organization(
    db: &Db,
    user_id: &str,
    organization_id: &str,
    type_ids: &[String],
) -> Result<usize> {
    crate::with_conn!(db, write, |c| soft_delete_user_entitlements_in_organization_in(
        &mut DbTx::from(c),
        user_id,
        organization_id,
        type_ids
    )
    .await)
}

/// [`soft_delete_user_entitlements_in_organization`] on a given connection (a transactional step's).
pub async fn soft_delete_user_entitlements_in_organization_in(
    tx: &mut DbTx<'_>,
    user_id: &str,
    organization_id: &str,
    type_ids: &[String],
) -> Result<usize> {
    let t = now();
    Ok(crate::with_tx!(tx, |c| {
        diesel::update(
            e::table
                .filter(e::user_id.eq(user_id))
                .filter(e::organization_id.eq(organization_id))
                .filter(e::entitlement_type_id.eq_any(type_ids))
                .filter(e::deleted_at.is_null()),
        )
        .set((e::deleted_at.eq(t), e::updated_at.eq(t)))
        .execute(c)
        .await?
    }))
}

/// The user's special credits for a product (`metadata.eligibilityProductId`), used ones included if asked.
pub async fn credit_entitlements_for_product(
    db: &Db,
    user_id: &str,
    product_id: &str,
    include_deleted: bool,
) -> Result<Vec<Entitlement>> {
    let ty = require_entitlement_type(db, APPLY_SPECIAL_CREDIT).await?;
    Ok(credits_for_product(
        entitlements_of_user(db, user_id, &[ty.id], include_deleted).await?,
        product_id,
    ))
}

/// The special credits among a user's entitlements that were granted for a product.
fn credits_for_product(all: Vec<Entitlement>, product_id: &str) -> Vec<Entitlement> {
    all.into_iter()
        .filter(|x| x.source_type == "COUPON" && json_str(&x.metadata, "eligibilityProductId") == Some(product_id))
        .collect()
}

/// Revokes the special credits buying `product_id` gave the user: unused ones are soft-deleted, used ones are
/// reported. Repeating it revokes nothing more and reports the first run's revocations as used.
pub async fn revoke_credit_entitlements_for_product(
    db: &Db,
    user_id: &str,
    product_id: &str,
) -> Result<CreditRevocation> {
    crate::with_conn!(db, write, |c| revoke_credit_entitlements_for_product_in(
        &mut DbTx::from(c),
        user_id,
        product_id
    )
    .await)
}

/// [`revoke_credit_entitlements_for_product`] on a given connection (a transactional step's).
pub async fn revoke_credit_entitlements_for_product_in(
    tx: &mut DbTx<'_>,
    user_id: &str,
    product_id: &str,
) -> Result<CreditRevocation> {
    let ty = require_entitlement_type_in(tx, APPLY_SPECIAL_CREDIT).await?;
    let all = credits_for_product(entitlements_of_user_in(tx, user_id, &[ty.id], true).await?, product_id);
    let (unused, used): (Vec<_>, Vec<_>) = all.into_iter().partition(|x| x.deleted_at.is_none());
    let revoked_ids: Vec<String> = unused.into_iter().map(|x| x.id).collect();
    soft_delete_ids_in(tx, &revoked_ids).await?;
    Ok(CreditRevocation {
        revoked_ids,
        used_ids: used.into_iter().map(|x| x.id).collect(),
    })
}

/// Users with a live entitlement of this type covering a content id (e.g. a workshop opening today), sorted.
pub async fn users_with_content_access(db: &Db, type_id: &str, content_id: &str) -> Result<Vec<String>> {
    let pattern = format!(
        "%{}%",
        content_id.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
    );
    let rows: Vec<Entitlement> = crate::with_conn!(db, read, |c| {
        e::table
            .filter(e::entitlement_type_id.eq(type_id))
            .filter(e::deleted_at.is_null())
            .filter(e::metadata.like(&pattern).escape('\\'))
            .select(COLUMNS)
            .load(c)
            .await?
    });
    let t = now();
    let mut users: Vec<String> = rows
        .into_iter()
        .filter(|x| x.is_live(t) && x.content_ids().contains(&content_id))
        .filter_map(|x| x.user_id)
        .collect();
    users.sort();
    users.dedup();
    Ok(users)
}
