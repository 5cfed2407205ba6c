//! `product-transfer-workflow` and `api-product-transfer-workflow` — a purchase changed hands (the web app or the
//! support API already made the target user its owner): move access, Discord roles, membership and credits from
//! the source user to the target user (reference §3.5). One handler, two definitions.
//!
//! Triggers: `purchase/transferred` (UI, `transferSource: "ui"`) and `purchase/transferred-api` (support API,
//! `transferSource: "api"`), plus the original names `commerce/purchase_transferred` and
//! `commerce/purchase_transferred_api`. Payload `{purchaseId, fromUserId, toUserId}` (design document) or
//! `{purchaseId, sourceUserId, targetUserId}` (original platform); either works. No idempotency key: every write
//! is guarded, so a second delivery changes nothing (the emitted role events keep their ids).
//!
//! Steps (the original's names):
//! 1. "log transfer initiated".
//! 2. "get purchase", "get product" — missing → non-retriable.
//! 3. The product's type must be `cohort` or `self-paced`; anything else returns `{…, message: "Not a
//!    transferable product type"}`.
//! 4. "get source user", "get target user" — missing → non-retriable; the same user → non-retriable.
//! 5. "gather all resource contexts" (none → non-retriable), "load resource data for all contexts".
//! 6. Only for a purchase that is not a team purchase (no bulk coupon: its seats carry the access) and is Valid or
//!    Restricted (otherwise returns with `transferred: false`):
//!    - "get target user organization" — for a seat of a team (`redeemedBulkCouponId` and an organization): the
//!      team's organization, the target joins it (invited by the team buyer) with the `learner` role, and
//!      "remove source user from team organization" takes the source's membership there (unless owner). For any
//!      other purchase, as the original: the target's personal organization (with `learner`), "move purchase to
//!      target user organization", "ensure source user organization integrity" (the source keeps a personal org).
//!    - the primary resource (the first context of the product's own type; none → non-retriable): "get \<prefix>
//!      content access entitlement type" (none → non-retriable), "get \<prefix> discord role entitlement type",
//!      "remove entitlements from source user" (content access and Discord role from this purchase, live ones
//!      only), "remove discord role from source user" (the product's `fields.discordRoleId`, else
//!      `DISCORD_COHORT_001_ROLE_ID` / `DISCORD_PURCHASER_ROLE_ID`; kept if another live entitlement of the source
//!      grants it; DELETE only if the member has it), sendEvent "send-discord-role-event"
//!      (`discord/user-added-to-cohort` / `-workshop` for the target, which PATCHes the role if they linked
//!      Discord), "add entitlements to target user" (content access over the resource tree plus the Discord-role
//!      entitlement — never a second live one).
//!    - every other context (e.g. a workshop inside a cohort): "remove \<prefix> entitlements from source user for
//!      \<id>", then "add entitlements to target user" (numbered by the engine), no Discord entitlement.
//!    - "transfer coupon entitlements" — the source's live special credits for the product move to the target in
//!      one transaction.
//! 7. "log transfer completed".
//!
//! Returns `{purchase, product, sourceUser, targetUser, resourceContexts, isTeamPurchase, transferSource,
//! transferred}`.
//!
//! Decisions: the original soft-deleted the source's entitlements again (new timestamp) on every run; here only
//! live ones. The original always moved the purchase to the target's personal organization; for a team seat that
//! would leave the target outside the team and the source inside it, so a seat stays in the team organization and
//! the membership moves. The source's Discord role is kept when another live entitlement still grants it.

mod primary;

use crate::functions::Deps;
use crate::functions::outputs::PurchaseOutput;
use crate::functions::refunds::refund_entitlements::db_err;
use crate::platform::commerce::product_types::{ProductType, ResourceContext, gather_resource_contexts};
use crate::platform::commerce::products::{ProductWithResources, get_product};
use crate::platform::commerce::purchases;
use crate::platform::content::{self, ResourceTree};
use crate::platform::users::{User, get_user};
use crate::platform::{json_str, organizations};
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError, Trigger};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const ID: &str = "product-transfer-workflow";
pub const API_ID: &str = "api-product-transfer-workflow";
pub const EVENT: &str = "purchase/transferred";
pub const API_EVENT: &str = "purchase/transferred-api";
pub use crate::functions::discord::add_discord_role_workflow::{USER_ADDED_TO_COHORT, USER_ADDED_TO_WORKSHOP};

fn triggers(name: &str) -> Vec<Trigger> {
    crate::functions::event_triggers(name, None)
}

pub fn definition(deps: Deps) -> FunctionDef {
    with_triggers(
        FunctionDef::new(ID, "Product Transfer Workflow", move |ctx| run(deps.clone(), ctx, "ui")),
        EVENT,
    )
}

pub fn api_definition(deps: Deps) -> FunctionDef {
    with_triggers(
        FunctionDef::new(API_ID, "API Product Transfer Workflow", move |ctx| {
            run(deps.clone(), ctx, "api")
        }),
        API_EVENT,
    )
}

fn with_triggers(mut def: FunctionDef, event: &str) -> FunctionDef {
    for t in triggers(event) {
        def = def.trigger(t);
    }
    def.summary("Moves a transferred purchase's access from the source user to the target user: entitlements, Discord role, organization membership with the learner role, and special credits.")
        .services(&["discord"])
        .emits(&[USER_ADDED_TO_COHORT, USER_ADDED_TO_WORKSHOP])
}

/// Where the target holds the purchase.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TargetMembership {
    pub organization_id: String,
    pub organization_membership_id: String,
}

/// `(purchaseId, source, target)` from either payload shape.
fn parties(data: &Value) -> Option<(String, String, String)> {
    let get = |a: &str, b: &str| {
        json_str(data, a)
            .or_else(|| json_str(data, b))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Some((
        get("purchaseId", "purchaseId")?,
        get("fromUserId", "sourceUserId")?,
        get("toUserId", "targetUserId")?,
    ))
}

async fn run(deps: Deps, ctx: RunCtx, transfer_source: &'static str) -> Result<Value, FnError> {
    let (purchase_id, source_id, target_id) = parties(&ctx.event["data"]).ok_or_else(|| {
        FnError::NonRetriable(
            "The event needs purchaseId and fromUserId/toUserId (or sourceUserId/targetUserId)".into(),
        )
    })?;
    let db = &deps.db;
    let _: Value = ctx
        .step
        .run("log transfer initiated", || async {
            tracing::info!(purchase = %purchase_id, source = %source_id, target = %target_id, transfer_source, "purchase transfer initiated");
            Ok(json!({"purchaseId": purchase_id, "sourceUserId": source_id, "targetUserId": target_id}))
        })
        .await?;
    let purchase: PurchaseOutput = ctx
        .step
        .run("get purchase", || async {
            purchases::get_purchase(db, &purchase_id)
                .await
                .map_err(db_err)?
                .map(PurchaseOutput::from)
                .ok_or_else(|| StepError::fatal(format!("purchase not found: {purchase_id}")))
        })
        .await?;
    let product: ProductWithResources = ctx
        .step
        .run("get product", || async {
            get_product(db, &purchase.product_id)
                .await
                .map_err(db_err)?
                .ok_or_else(|| StepError::fatal(format!("product not found: {}", purchase.product_id)))
        })
        .await?;
    let is_team_purchase = purchase.bulk_coupon_id.is_some();
    let base = |extra: Value| {
        let mut out = json!({
            "purchase": purchase, "product": product, "isTeamPurchase": is_team_purchase,
            "transferSource": transfer_source,
        });
        if let (Some(o), Some(x)) = (out.as_object_mut(), extra.as_object()) {
            o.extend(x.clone());
        }
        out
    };
    let Some(product_type) = ProductType::parse(&product.product.kind) else {
        return Ok(base(
            json!({"transferred": false, "message": "Not a transferable product type"}),
        ));
    };
    let source: User = ctx
        .step
        .run("get source user", || async { require_user(db, &source_id).await })
        .await?;
    let target: User = ctx
        .step
        .run("get target user", || async { require_user(db, &target_id).await })
        .await?;
    if source.id == target.id {
        return Err(FnError::NonRetriable("The source and target users are the same".into()));
    }
    let contexts: Vec<ResourceContext> = ctx
        .step
        .run("gather all resource contexts", || async {
            let found = gather_resource_contexts(db, &product, product_type)
                .await
                .map_err(db_err)?;
            if found.is_empty() {
                return Err(StepError::fatal(format!(
                    "No resources found for product {}",
                    product.product.id
                )));
            }
            Ok(found)
        })
        .await?;
    let resource_data: BTreeMap<String, Option<ResourceTree>> = ctx
        .step
        .run("load resource data for all contexts", || async {
            let mut out = BTreeMap::new();
            for c in &contexts {
                let tree = match c.resource_type.as_str() {
                    "cohort" => content::get_cohort(db, &c.resource_id).await,
                    _ => content::get_workshop(db, &c.resource_id).await,
                }
                .map_err(db_err)?;
                out.insert(c.resource_id.clone(), tree);
            }
            Ok(out)
        })
        .await?;
    let users = json!({"sourceUser": source, "targetUser": target, "resourceContexts": contexts});
    let with_users = |transferred: bool| {
        let mut extra = users.clone();
        extra["transferred"] = json!(transferred);
        base(extra)
    };
    if is_team_purchase || !purchase.status.grants_access() {
        return Ok(with_users(false));
    }

    let membership = target_membership(&ctx, &deps, &purchase, &source, &target).await?;
    primary::move_access(
        &ctx,
        &deps,
        primary::Transfer {
            purchase: &purchase,
            product: &product,
            product_type,
            source: &source,
            target: &target,
            membership: &membership,
            contexts: &contexts,
            trees: &resource_data,
        },
    )
    .await?;
    let _: Value = ctx
        .step
        .run("log transfer completed", || async {
            tracing::info!(purchase = %purchase.id, target = %target.id, "purchase transfer completed");
            Ok(json!({"purchaseId": purchase.id, "targetUserId": target.id}))
        })
        .await?;
    Ok(with_users(true))
}

async fn require_user(db: &crate::store::Db, id: &str) -> Result<User, StepError> {
    get_user(db, id)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StepError::fatal(format!("user not found: {id}")))
}

/// The target's membership where they will hold the purchase (see the module doc: a team seat stays in the team).
async fn target_membership(
    ctx: &RunCtx,
    deps: &Deps,
    purchase: &PurchaseOutput,
    source: &User,
    target: &User,
) -> Result<TargetMembership, FnError> {
    let db = &deps.db;
    if let (Some(team_org), Some(coupon)) = (&purchase.organization_id, &purchase.redeemed_bulk_coupon_id) {
        let m: TargetMembership = ctx
            .step
            .run("get target user organization", || async {
                let inviter = purchases::purchases_with_bulk_coupon(db, coupon)
                    .await
                    .map_err(db_err)?
                    .into_iter()
                    .find_map(|p| p.user_id)
                    .unwrap_or_else(|| source.id.clone());
                let m = organizations::add_member_to_organization(db, team_org, &target.id, &inviter)
                    .await
                    .map_err(db_err)?;
                organizations::add_role_for_member(db, team_org, &m.id, "learner")
                    .await
                    .map_err(db_err)?;
                Ok(TargetMembership {
                    organization_id: team_org.clone(),
                    organization_membership_id: m.id,
                })
            })
            .await?;
        let _: bool = ctx
            .step
            .run("remove source user from team organization", || async {
                organizations::remove_member_unless_owner(db, team_org, &source.id)
                    .await
                    .map_err(db_err)
            })
            .await?;
        return Ok(m);
    }
    let m: TargetMembership = ctx
        .step
        .run("get target user organization", || async {
            let p = organizations::ensure_personal_organization_with_learner_role(db, target)
                .await
                .map_err(db_err)?;
            Ok(TargetMembership {
                organization_id: p.organization.id,
                organization_membership_id: p.membership.id,
            })
        })
        .await?;
    let _: PurchaseOutput = ctx
        .step
        .run("move purchase to target user organization", || async {
            purchases::move_purchase_to_organization(db, &purchase.id, &m.organization_id)
                .await
                .map(PurchaseOutput::from)
                .map_err(db_err)
        })
        .await?;
    let _: Value = ctx
        .step
        .run("ensure source user organization integrity", || async {
            let p = organizations::ensure_personal_organization(db, source)
                .await
                .map_err(db_err)?;
            Ok(json!({"organizationId": p.organization.id, "wasCreated": p.was_created}))
        })
        .await?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_payload_shapes_name_the_parties() {
        let want = Some(("p".to_string(), "a".to_string(), "b".to_string()));
        assert_eq!(
            parties(&json!({"purchaseId": "p", "fromUserId": "a", "toUserId": "b"})),
            want
        );
        assert_eq!(
            parties(&json!({"purchaseId": "p", "sourceUserId": "a", "targetUserId": "b"})),
            want
        );
        assert_eq!(parties(&json!({"purchaseId": "p", "sourceUserId": "a"})), None);
        assert_eq!(parties(&json!({"fromUserId": "a", "toUserId": "b"})), None);
    }
}
