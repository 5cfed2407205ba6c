//! Cohort membership through entitlements (the cohort entitlement sync, reference §3.7): who holds content
//! access to a cohort through a purchase, and through which purchase.

use super::{COLUMNS, Entitlement, require_entitlement_type};
use crate::platform::Result;
use crate::platform::commerce::PurchaseStatus;
use crate::platform::commerce::purchases::{COLUMNS as PURCHASE_COLUMNS, Purchase};
use crate::platform::content::product_ids_for_resource;
use crate::platform::now;
use crate::store::Db;
use crate::store::schema::{entitlements as e, purchases as p};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// Purchases (not refunded) of any product that sells the cohort, oldest first.
pub async fn cohort_purchases(db: &Db, cohort_id: &str, user_id: Option<&str>) -> Result<Vec<Purchase>> {
    let products = product_ids_for_resource(db, cohort_id).await?;
    Ok(crate::with_conn!(db, read, |c| {
        let mut q = p::table
            .filter(p::product_id.eq_any(&products))
            .filter(p::status.ne(PurchaseStatus::Refunded.as_str()))
            .select(PURCHASE_COLUMNS)
            .into_boxed();
        if let Some(u) = user_id {
            q = q.filter(p::user_id.eq(u));
        }
        q.order((p::created_at, p::id)).load(c).await?
    }))
}

/// The user's live `cohort_content_access` entitlements that came from purchases of the cohort's products.
pub async fn cohort_entitlements_of_user(db: &Db, cohort_id: &str, user_id: &str) -> Result<Vec<Entitlement>> {
    let ty = require_entitlement_type(db, "cohort_content_access").await?;
    let purchases: Vec<String> = cohort_purchases(db, cohort_id, Some(user_id))
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    let rows: Vec<Entitlement> = crate::with_conn!(db, read, |c| {
        e::table
            .filter(e::user_id.eq(user_id))
            .filter(e::entitlement_type_id.eq(&ty.id))
            .filter(e::source_type.eq("PURCHASE"))
            .filter(e::source_id.eq_any(&purchases))
            .filter(e::deleted_at.is_null())
            .order((e::created_at, e::id))
            .select(COLUMNS)
            .load(c)
            .await?
    });
    let t = now();
    Ok(rows.into_iter().filter(|x| x.is_live(t)).collect())
}

/// Distinct users (sorted) with a live `cohort_content_access` entitlement from a non-refunded purchase of a
/// product that sells the cohort.
pub async fn cohort_access_holders(db: &Db, cohort_id: &str) -> Result<Vec<String>> {
    let ty = require_entitlement_type(db, "cohort_content_access").await?;
    let purchases: Vec<String> = cohort_purchases(db, cohort_id, None)
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    let mut users: Vec<String> = crate::with_conn!(db, read, |c| {
        e::table
            .filter(e::entitlement_type_id.eq(&ty.id))
            .filter(e::source_type.eq("PURCHASE"))
            .filter(e::source_id.eq_any(&purchases))
            .filter(e::deleted_at.is_null())
            .filter(e::user_id.is_not_null())
            .select(e::user_id.assume_not_null())
            .distinct()
            .load(c)
            .await?
    });
    users.sort();
    Ok(users)
}
