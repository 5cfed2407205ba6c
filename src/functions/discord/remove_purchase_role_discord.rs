//! `remove-purchase-role-discord` — a purchase was refunded, disputed or banned: take away the Discord roles it
//! granted (reference §3.3, §8.1).
//!
//! Trigger `commerce/update-purchase-status` if `event.data.status` is `Refunded`, `Disputed` or `Banned` (the
//! design document and the original platform use the same name). Idempotency `stripeChargeId + status`: the
//! webhook's event and a manual re-send within 24 h run once.
//!
//! Steps:
//! 1. "get purchase" — the purchase the charge paid; none → retryable "No purchase found" (as the original: the
//!    checkout recording the charge may not have run yet); a purchase without a buyer → non-retriable.
//! 2. "get user" — missing → retryable (as the original).
//! 3. "get product" — missing → returns `{status: "skipped", reason: "Product not found"}`.
//! 4. "get discord role entitlements for purchase" — the `cohort_discord_role` / `workshop_discord_role`
//!    entitlements with a `metadata.discordRoleId` that the purchase granted — and, when a team purchase is
//!    *refunded*, those of every seat redeemed from its bulk coupon (a refund refunds the seats, §6.5). Soft-deleted
//!    ones count too: `refund-entitlements` may already have soft-deleted them for the same refund, and the role at
//!    Discord must still go. For each, whether another live entitlement of that user (from any other source) grants
//!    the same role. None → returns `{status: "skipped", reason: "No discord role entitlements"}`.
//! 5. Per entitlement: "remove discord role \<roleId>" — skipped when another live entitlement still grants the
//!    role, or the user has no linked Discord account; else GET the member and DELETE
//!    `guilds/{guild}/members/{id}/roles/{roleId}` only if they have it. Then "soft delete discord role entitlement
//!    \<entitlementId>" (a no-op for one already deleted).
//!
//! Steps 1–4 are read steps (`tx_step::read`: read-only, no commit of their own, recorded with the next write).
//!
//! Returns `{status: "success", userId, purchaseId, productType, rolesRemoved, removalResults}`.
//!
//! Decisions: the original's `removeDiscordRole` swallowed every Discord error and reported it; the spec says
//! errors in refund steps retry like any other step, so a 429 waits for its `Retry-After`, a 5xx retries, and a
//! 4xx fails the run. Unlike the original, a role another live purchase still grants is kept (a buyer with two
//! cohorts sharing a role keeps it when one is refunded).

use crate::functions::Deps;
use crate::functions::discord::discord_account_linked::merge_roles;
use crate::functions::outputs::PurchaseOutput;
use crate::functions::refunds::refund_entitlements::db_err;
use crate::integrations::discord::{Discord, RoleRemoval};
use crate::platform::commerce::PurchaseStatus;
use crate::platform::commerce::products::{self, Product};
use crate::platform::commerce::purchases;
use crate::platform::entitlements::{self, Entitlement, SourceType};
use crate::platform::{Result as PResult, json_str, users};
use crate::store::{Db, DbTx, tx_step};
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError, Trigger};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const ID: &str = "remove-purchase-role-discord";
pub const EVENT: &str = "commerce/update-purchase-status";
pub const CONDITION: &str =
    r#"event.data.status == "Refunded" || event.data.status == "Disputed" || event.data.status == "Banned""#;
/// The entitlement types whose `metadata.discordRoleId` is a Discord role a purchase granted.
pub const ROLE_TYPES: [&str; 2] = ["cohort_discord_role", "workshop_discord_role"];

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Remove Purchase Role Discord", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event_if(EVENT, CONDITION))
        .idempotency(r#"event.data.stripeChargeId + "-" + event.data.status"#)
        .summary("When a purchase is refunded, disputed or banned, removes the Discord roles it granted (unless another live entitlement still grants them) and soft-deletes the role entitlements.")
        .services(&["discord"])
        .emits(&[])
}

/// One Discord role a purchase granted a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantedRole {
    pub entitlement_id: String,
    pub user_id: String,
    pub purchase_id: String,
    pub discord_role_id: String,
    /// Another live entitlement of the user (not from these purchases) grants the same role.
    pub still_granted: bool,
}

/// The ids of the Discord-role entitlement types that exist.
pub async fn role_type_ids(db: &Db) -> PResult<Vec<String>> {
    crate::with_conn!(db, read, |c| role_type_ids_in(&mut DbTx::from(c)).await)
}

/// [`role_type_ids`] on a given connection (a read step's).
pub async fn role_type_ids_in(tx: &mut DbTx<'_>) -> PResult<Vec<String>> {
    let mut out = Vec::new();
    for name in ROLE_TYPES {
        if let Some(t) = entitlements::get_entitlement_type_in(tx, name).await? {
            out.push(t.id);
        }
    }
    Ok(out)
}

/// Whether a live entitlement of the user, of a Discord-role type, not sourced from any of `purchases`, grants
/// `role`.
pub async fn role_still_granted(
    db: &Db,
    user_id: &str,
    role: &str,
    type_ids: &[String],
    purchases: &[String],
) -> PResult<bool> {
    crate::with_conn!(db, read, |c| role_still_granted_in(
        &mut DbTx::from(c),
        user_id,
        role,
        type_ids,
        purchases
    )
    .await)
}

/// [`role_still_granted`] on a given connection (a read step's).
pub async fn role_still_granted_in(
    tx: &mut DbTx<'_>,
    user_id: &str,
    role: &str,
    type_ids: &[String],
    purchases: &[String],
) -> PResult<bool> {
    if type_ids.is_empty() {
        return Ok(false);
    }
    Ok(entitlements::entitlements_of_user_in(tx, user_id, type_ids, false)
        .await?
        .iter()
        .any(|e: &Entitlement| {
            json_str(&e.metadata, "discordRoleId") == Some(role)
                && !(e.source_type == SourceType::Purchase.as_str() && purchases.contains(&e.source_id))
        }))
}

/// The Discord roles the purchases `ids` granted (live or soft-deleted entitlements), each with whether another
/// live entitlement of its user still grants it.
pub async fn roles_granted_by_in(tx: &mut DbTx<'_>, ids: &[String]) -> PResult<Vec<GrantedRole>> {
    let type_ids = role_type_ids_in(tx).await?;
    let mut out = Vec::new();
    for p in ids {
        for e in entitlements::entitlements_of_source_in(tx, SourceType::Purchase, p, true).await? {
            let (Some(user), Some(role)) = (e.user_id.clone(), json_str(&e.metadata, "discordRoleId")) else {
                continue;
            };
            if !type_ids.contains(&e.entitlement_type_id) {
                continue;
            }
            let still_granted = role_still_granted_in(tx, &user, role, &type_ids, ids).await?;
            out.push(GrantedRole {
                entitlement_id: e.id,
                user_id: user,
                purchase_id: p.clone(),
                discord_role_id: role.to_string(),
                still_granted,
            });
        }
    }
    Ok(out)
}

/// The body of a "remove discord role" step: DELETE the role from the user's guild member unless `keep` (another
/// entitlement grants it), the user has no linked Discord account, or the member lacks the role.
pub async fn remove_role(
    db: &Db,
    discord: &Discord,
    user_id: &str,
    role: &str,
    keep: bool,
) -> std::result::Result<Value, StepError> {
    if keep {
        return Ok(json!({"status": "skipped", "roleId": role, "reason": "another entitlement grants the role"}));
    }
    let Some(account) = users::get_account(db, user_id, "discord").await.map_err(db_err)? else {
        return Ok(json!({"status": "skipped", "roleId": role, "reason": "no discord account"}));
    };
    Ok(match discord.remove_role(&account.provider_account_id, role).await? {
        RoleRemoval::Removed => json!({"status": "success", "roleId": role}),
        RoleRemoval::Skipped => {
            json!({"status": "skipped", "roleId": role, "reason": "the member does not have the role"})
        }
    })
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let data = &ctx.event["data"];
    let charge = json_str(data, "stripeChargeId")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| FnError::NonRetriable("The event has no stripeChargeId".into()))?;
    let refunded = json_str(data, "status") == Some(PurchaseStatus::Refunded.as_str());
    let db = &deps.db;
    let discord = &deps.integrations.discord;

    // The four lookups are read steps: recorded with the run's next write, no commit of their own.
    let purchase: PurchaseOutput = tx_step::read(&ctx.step, "get purchase", move |tx| {
        let charge = charge.clone();
        Box::pin(async move {
            let found = purchases::purchase_for_charge_in(tx, &charge)
                .await
                .map_err(db_err)?
                .ok_or_else(|| StepError::retryable(format!("No purchase found for charge {charge}")))?;
            if found.user_id.as_deref().is_none_or(str::is_empty) {
                return Err(StepError::fatal(format!("Purchase {} has no user", found.id)));
            }
            Ok(PurchaseOutput::from(found))
        })
    })
    .await?;
    let user_id = purchase.user_id.clone().unwrap_or_default();
    let buyer = user_id.clone();
    let _user: users::User = tx_step::read(&ctx.step, "get user", move |tx| {
        let buyer = buyer.clone();
        Box::pin(async move {
            users::get_user_in(tx, &buyer)
                .await
                .map_err(db_err)?
                .ok_or_else(|| StepError::retryable(format!("User not found: {buyer}")))
        })
    })
    .await?;
    let product_id = purchase.product_id.clone();
    let product: Option<Product> = tx_step::read(&ctx.step, "get product", move |tx| {
        let product_id = product_id.clone();
        Box::pin(async move { products::get_product_row_in(tx, &product_id).await.map_err(db_err) })
    })
    .await?;
    let Some(product) = product else {
        return Ok(json!({"status": "skipped", "reason": "Product not found", "purchaseId": purchase.id}));
    };

    let (purchase_id, bulk_coupon) = (
        purchase.id.clone(),
        purchase.bulk_coupon_id.clone().filter(|_| refunded),
    );
    let granted: Vec<GrantedRole> = tx_step::read(&ctx.step, "get discord role entitlements for purchase", move |tx| {
        let (purchase_id, bulk_coupon) = (purchase_id.clone(), bulk_coupon.clone());
        Box::pin(async move {
            let mut all = vec![purchase_id];
            if let Some(coupon) = &bulk_coupon {
                all.extend(
                    purchases::purchases_redeeming_bulk_coupon_in(tx, coupon)
                        .await
                        .map_err(db_err)?
                        .into_iter()
                        .map(|p| p.id),
                );
            }
            roles_granted_by_in(tx, &all).await.map_err(db_err)
        })
    })
    .await?;
    if granted.is_empty() {
        return Ok(json!({"status": "skipped", "reason": "No discord role entitlements", "purchaseId": purchase.id}));
    }

    let mut results = Vec::new();
    let mut removed = Vec::new();
    for g in &granted {
        let result: Value = ctx
            .step
            .run(&format!("remove discord role {}", g.discord_role_id), || async {
                remove_role(db, discord, &g.user_id, &g.discord_role_id, g.still_granted).await
            })
            .await?;
        let _: bool = ctx
            .step
            .run(
                &format!("soft delete discord role entitlement {}", g.entitlement_id),
                || async {
                    entitlements::soft_delete_entitlement(db, &g.entitlement_id)
                        .await
                        .map_err(db_err)
                },
            )
            .await?;
        if result["status"] == "success" {
            removed = merge_roles(&removed, std::slice::from_ref(&g.discord_role_id));
        }
        let mut r = result;
        r["userId"] = json!(g.user_id);
        r["entitlementId"] = json!(g.entitlement_id);
        results.push(r);
    }
    Ok(json!({
        "status": "success",
        "userId": user_id,
        "purchaseId": purchase.id,
        "productType": product.kind,
        "rolesRemoved": removed,
        "removalResults": results,
    }))
}
