//! Refunds: an individual purchase, and a team (bulk) purchase with every seat redeemed from it (reference §6.5).

use super::PurchaseStatus;
use super::coupons::revoke_coupon_in;
use super::purchases::{Purchase, purchases_redeeming_bulk_coupon_in, require_purchase_in, set_purchase_status_in};
use crate::platform::entitlements::{
    get_entitlement_type_in, soft_delete_purchase_entitlements_in, soft_delete_user_entitlements_in_organization_in,
};
use crate::platform::organizations::remove_member_unless_owner_in;
use crate::platform::users::get_user_in;
use crate::platform::{Error, Result};
use crate::store::{Db, DbTx};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AffectedUser {
    pub user_id: String,
    pub purchase_id: String,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkRefundOutcome {
    pub purchase_id: String,
    /// The original purchase and every seat redemption, all now `Refunded`.
    pub total_purchases_refunded: usize,
    pub entitlements_deleted: usize,
    pub memberships_removed: usize,
    pub affected_users: Vec<AffectedUser>,
    /// Whether the bulk coupon was active and is now revoked.
    pub coupon_revoked: bool,
}

/// Marks a purchase `Refunded` and soft-deletes the entitlements it granted. Returns how many were live.
pub async fn refund_purchase(db: &Db, purchase_id: &str) -> Result<usize> {
    crate::with_conn!(db, write, |c| refund_purchase_in(&mut DbTx::from(c), purchase_id).await)
}

/// [`refund_purchase`] on a given connection (`refund-entitlements` runs it as a transactional step, so the
/// status and the soft deletes commit together with the step's memo).
pub async fn refund_purchase_in(tx: &mut DbTx<'_>, purchase_id: &str) -> Result<usize> {
    set_purchase_status_in(tx, purchase_id, PurchaseStatus::Refunded).await?;
    soft_delete_purchase_entitlements_in(tx, purchase_id).await
}

/// Refunds a team purchase and all its seats: each purchase (the original and every redemption of its bulk
/// coupon) becomes `Refunded` with its entitlements soft-deleted; each seat holder loses their Discord-role
/// entitlements in the team's organization and their membership there (unless they are its `owner`); the bulk
/// coupon is revoked.
///
/// Fixes the original's defects (reference §9.10): Discord-role entitlements are matched by their type *ids*
/// (the original compared names, so removed nothing), and the owner check reads the membership's roles (the
/// original read an unused column). Errors propagate, so the step retries; every write is guarded, so the retry
/// finishes the job and a second run reports zero new changes.
pub async fn refund_bulk_purchase_entitlements(db: &Db, original_purchase_id: &str) -> Result<BulkRefundOutcome> {
    crate::with_conn!(db, write, |c| refund_bulk_purchase_entitlements_in(
        &mut DbTx::from(c),
        original_purchase_id
    )
    .await)
}

/// [`refund_bulk_purchase_entitlements`] on a given connection (`refund-entitlements` runs it as a transactional
/// step: every seat's refund, the memberships and the coupon commit together with the step's memo, or none).
pub async fn refund_bulk_purchase_entitlements_in(
    tx: &mut DbTx<'_>,
    original_purchase_id: &str,
) -> Result<BulkRefundOutcome> {
    let original = require_purchase_in(tx, original_purchase_id).await?;
    let coupon_id = original
        .bulk_coupon_id
        .clone()
        .ok_or_else(|| Error::Invalid(format!("purchase {original_purchase_id} is not a bulk purchase")))?;
    let mut all: Vec<Purchase> = vec![original.clone()];
    all.extend(purchases_redeeming_bulk_coupon_in(tx, &coupon_id).await?);
    let mut discord_types = Vec::new();
    for name in ["workshop_discord_role", "cohort_discord_role"] {
        if let Some(t) = get_entitlement_type_in(tx, name).await? {
            discord_types.push(t.id);
        }
    }
    let mut outcome = BulkRefundOutcome {
        purchase_id: original.id.clone(),
        total_purchases_refunded: 0,
        entitlements_deleted: 0,
        memberships_removed: 0,
        affected_users: Vec::new(),
        coupon_revoked: false,
    };
    for purchase in &all {
        outcome.entitlements_deleted += refund_purchase_in(tx, &purchase.id).await?;
        outcome.total_purchases_refunded += 1;
        let Some(user_id) = &purchase.user_id else { continue };
        if let Some(org) = &original.organization_id {
            outcome.entitlements_deleted +=
                soft_delete_user_entitlements_in_organization_in(tx, user_id, org, &discord_types).await?;
            if Some(user_id) != original.user_id.as_ref() && remove_member_unless_owner_in(tx, org, user_id).await? {
                outcome.memberships_removed += 1;
            }
        }
        outcome.affected_users.push(AffectedUser {
            user_id: user_id.clone(),
            purchase_id: purchase.id.clone(),
            email: get_user_in(tx, user_id).await?.map(|u| u.email),
        });
    }
    outcome.coupon_revoked = revoke_coupon_in(tx, &coupon_id).await?;
    Ok(outcome)
}
