//! The individual branch of `post-purchase-workflow`, per resource of the product: the entitlement types, the
//! Discord role event, the Discord role entitlement, content access (recursive), and the welcome email.

use super::welcome::WelcomeEmail;
use super::{Membership, USER_ADDED_TO_COHORT, USER_ADDED_TO_WORKSHOP, db_err};
use crate::email::Template;
use crate::functions::Deps;
use crate::functions::outputs::PurchaseOutput;
use crate::platform::commerce::product_types::{ProductType, ResourceContext};
use crate::platform::commerce::products::ProductWithResources;
use crate::platform::content::ResourceTree;
use crate::platform::entitlements::{self, Grant};
use crate::platform::users::User;
use crate::store::tx_step;
use ingot_actors::{FnError, RunCtx, SendEvent};
use serde_json::{Value, json};
use std::sync::Arc;

/// Grants one resource (`c`, loaded as `tree`) to the buyer; `is_full_price_coupon_redemption`: a seat of a team
/// purchase (the team-redeemer welcome email).
#[allow(clippy::too_many_arguments)]
pub(super) async fn grant_resource(
    ctx: &RunCtx,
    deps: &Deps,
    c: &ResourceContext,
    tree: &ResourceTree,
    purchase: &PurchaseOutput,
    product: &ProductWithResources,
    user: &User,
    membership: &Membership,
    email: &WelcomeEmail<'_>,
    is_full_price_coupon_redemption: bool,
) -> Result<(), FnError> {
    let db = &deps.db;
    let icfg = &deps.config.integrations;
    let cfg = c.product_type.config();
    let prefix = cfg.resource_type;
    let rid = &c.resource_id;
    let content_type: Option<entitlements::EntitlementType> = ctx
        .step
        .run(
            &format!("get {prefix} content access entitlement type for {rid}"),
            || async {
                entitlements::get_entitlement_type(db, cfg.content_access)
                    .await
                    .map_err(db_err)
            },
        )
        .await?;
    let discord_type: Option<entitlements::EntitlementType> = ctx
        .step
        .run(
            &format!("get {prefix} discord role entitlement type for {rid}"),
            || async {
                entitlements::get_entitlement_type(db, cfg.discord_role)
                    .await
                    .map_err(db_err)
            },
        )
        .await?;
    let Some(content_type) = content_type else {
        tracing::warn!(entitlement_type = cfg.content_access, resource = %rid, "entitlement type missing: no access granted");
        return Ok(());
    };
    let fallback = match c.product_type {
        ProductType::Cohort => icfg.discord_cohort_role_id.as_deref(),
        ProductType::SelfPaced => icfg.discord_purchaser_role_id.as_deref(),
    };
    let discord_role_id = c
        .product_for_resource
        .as_ref()
        .unwrap_or(&product.product)
        .discord_role_id()
        .or(fallback)
        .map(str::to_string);
    let (event_name, id_key) = match c.product_type {
        ProductType::Cohort => (USER_ADDED_TO_COHORT, "cohortId"),
        ProductType::SelfPaced => (USER_ADDED_TO_WORKSHOP, "workshopId"),
    };
    ctx.step
        .send_event(
            &format!("send-discord-role-event for {rid}"),
            vec![SendEvent::new(
                event_name,
                json!({id_key: rid, "userId": user.id, "discordRoleId": discord_role_id}),
            )],
        )
        .await?;
    let grant = Grant {
        user_id: user.id.clone(),
        purchase_id: purchase.id.clone(),
        organization_id: Some(membership.organization_id.clone()),
        organization_membership_id: Some(membership.organization_membership_id.clone()),
        content_access_type_id: content_type.id.clone(),
    };
    // The two grants are transactional steps (`store::tx_step`): the entitlements and the step's memo commit in
    // one transaction, so a grant never lands without its memo (nor runs again once it landed).
    if let (Some(discord_type), Some(role)) = (&discord_type, &discord_role_id) {
        let (grant, type_id, rid, role) = (grant.clone(), discord_type.id.clone(), rid.clone(), role.clone());
        let name = format!("add {prefix} discord entitlement for {rid}");
        let _: Value = tx_step::run(&ctx.step, &name, move |tx| {
            let (grant, type_id, rid, role) = (grant.clone(), type_id.clone(), rid.clone(), role.clone());
            Box::pin(async move {
                let (e, created) = entitlements::ensure_discord_role_entitlement_in(tx, &grant, &type_id, &rid, &role)
                    .await
                    .map_err(db_err)?;
                Ok(json!({"entitlementId": e.id, "discordRoleId": role, "created": created}))
            })
        })
        .await?;
    }
    let (product_type, shared_tree) = (c.product_type, Arc::new(tree.clone()));
    let _: Vec<entitlements::GrantedEntitlement> = tx_step::run(
        &ctx.step,
        &format!("add user to {prefix} via entitlement for {rid}"),
        move |tx| {
            let (tree, grant) = (shared_tree.clone(), grant.clone());
            Box::pin(async move {
                entitlements::create_resource_entitlements_in(tx, product_type, &tree, &grant)
                    .await
                    .map_err(db_err)
            })
        },
    )
    .await?;
    let template = match (c.product_type, is_full_price_coupon_redemption) {
        (ProductType::Cohort, false) => Template::WelcomeCohortIndividual,
        (ProductType::Cohort, true) => Template::WelcomeCohortTeamRedeemer,
        (ProductType::SelfPaced, false) => Template::WelcomeWorkshopIndividual,
        (ProductType::SelfPaced, true) => Template::WelcomeWorkshopTeamRedeemer,
    };
    let name = format!("send welcome email to individual for {rid}");
    let vars = email.vars(c, tree, 1);
    let _: Value = ctx
        .step
        .run(&name, || async { email.send(&name, template, &vars).await })
        .await?;
    Ok(())
}
