//! Cohort membership through entitlements (the cohort entitlement sync, reference §3.7): who holds content
//! access to a cohort through a purchase, and through which purchase.

use super::{COLUMNS, Entitlement, require_entitlement_type};
use crate::platform::Result;
use crate::platform::commerce::PurchaseStatus;
use crate::platform::commerce::purchases::Purchase;
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
            .select(Purchase::as_select())
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

/// What [`sync_cohort_content`] changed for one user.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CohortSync {
    /// Content ids the user had no live entitlement for, now granted (one entitlement each).
    pub to_add: Vec<String>,
    /// Content ids no longer in the cohort, whose entitlements are now soft-deleted.
    pub to_remove: Vec<String>,
    /// The new entitlements' ids.
    pub added_ids: Vec<String>,
    /// The soft-deleted entitlements' ids.
    pub removed_ids: Vec<String>,
    /// The purchase new entitlements come from (`None` when nothing was added).
    pub purchase_id: Option<String>,
}

/// Brings a user's cohort content entitlements in line with the cohort's content (`target_ids`): content covered by
/// their live `cohort_content_access` entitlements from purchases of the cohort's products is compared with the
/// target; missing content gets one entitlement each (source: the user's oldest non-refunded purchase of the
/// cohort, in that purchase's organization and membership as its existing entitlements record them, else the
/// oldest existing entitlement's), content no longer in the cohort has its entitlements soft-deleted. The read and
/// both writes are one write transaction, so a concurrent sync or a repeat cannot double-grant; a repeat changes
/// nothing. A user with no live cohort entitlement is left alone (nothing to sync: they hold no access).
pub async fn sync_cohort_content(db: &Db, cohort_id: &str, user_id: &str, target_ids: &[String]) -> Result<CohortSync> {
    use super::{NewEntitlement, NewRow, SourceType};
    use crate::platform::Error;

    use std::collections::BTreeSet;

    let ty = require_entitlement_type(db, "cohort_content_access").await?;
    let purchases = cohort_purchases(db, cohort_id, Some(user_id)).await?;
    let purchase_ids: Vec<String> = purchases.iter().map(|p| p.id.clone()).collect();
    let target: BTreeSet<String> = target_ids.iter().cloned().collect();
    let user = user_id.to_string();
    let t = now();
    Ok(crate::with_conn!(db, write, |c| {
        crate::write_tx!(c, Error, async |tx| {
            let current: Vec<Entitlement> = e::table
                .filter(e::user_id.eq(&user))
                .filter(e::entitlement_type_id.eq(&ty.id))
                .filter(e::source_type.eq(SourceType::Purchase.as_str()))
                .filter(e::source_id.eq_any(&purchase_ids))
                .filter(e::deleted_at.is_null())
                .order((e::created_at, e::id))
                .select(COLUMNS)
                .load(tx)
                .await?;
            let current: Vec<Entitlement> = current.into_iter().filter(|x| x.is_live(t)).collect();
            let Some(template) = <[Entitlement]>::first(&current).cloned() else {
                return Ok(CohortSync::default());
            };
            let have: BTreeSet<String> = current
                .iter()
                .flat_map(|x| x.content_ids().into_iter().map(str::to_string))
                .collect();
            let to_add: Vec<String> = target.difference(&have).cloned().collect();
            let to_remove: Vec<String> = have.difference(&target).cloned().collect();
            let removed_ids: Vec<String> = current
                .iter()
                .filter(|x| x.content_ids().iter().any(|c| to_remove.iter().any(|r| r == c)))
                .map(|x| x.id.clone())
                .collect();
            if !removed_ids.is_empty() {
                diesel::update(
                    e::table
                        .filter(e::id.eq_any(&removed_ids))
                        .filter(e::deleted_at.is_null()),
                )
                .set((e::deleted_at.eq(t), e::updated_at.eq(t)))
                .execute(tx)
                .await?;
            }
            // The source of new grants: the oldest purchase of the cohort that already granted this user access.
            let source = purchase_ids
                .iter()
                .find_map(|p| current.iter().find(|x| &x.source_id == p))
                .unwrap_or(&template);
            let mut added_ids = Vec::new();
            for content_id in &to_add {
                let new = NewEntitlement {
                    id: format!("{content_id}-{}", uuid::Uuid::now_v7()),
                    entitlement_type_id: ty.id.clone(),
                    user_id: user.clone(),
                    organization_id: source.organization_id.clone(),
                    organization_membership_id: source.organization_membership_id.clone(),
                    source_type: SourceType::Purchase,
                    source_id: source.source_id.clone(),
                    metadata: serde_json::json!({"contentIds": [content_id]}),
                    expires_at: None,
                };
                diesel::insert_into(e::table)
                    .values(&NewRow::from_new(&new, t))
                    .execute(tx)
                    .await?;
                added_ids.push(new.id);
            }
            Ok(CohortSync {
                purchase_id: (!to_add.is_empty()).then(|| source.source_id.clone()),
                to_add,
                to_remove,
                added_ids,
                removed_ids,
            })
        })
        .await?
    }))
}
