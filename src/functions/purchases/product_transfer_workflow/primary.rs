//! The access moves of a transfer: the primary resource (content access, Discord role, the role event), the
//! other resources (content access only) and the special credits.

use super::{TargetMembership, USER_ADDED_TO_COHORT, USER_ADDED_TO_WORKSHOP};
use crate::functions::Deps;
use crate::functions::discord::remove_purchase_role_discord::{remove_role, role_still_granted, role_type_ids};
use crate::functions::outputs::PurchaseOutput;
use crate::functions::refunds::refund_entitlements::db_err;
use crate::platform::commerce::product_types::{ProductType, ResourceContext};
use crate::platform::commerce::products::ProductWithResources;
use crate::platform::content::ResourceTree;
use crate::platform::entitlements::{self, EntitlementType, Grant, GrantedEntitlement};
use crate::platform::users::User;
use ingot_actors::{FnError, RunCtx, SendEvent};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) struct Transfer<'a> {
    pub purchase: &'a PurchaseOutput,
    pub product: &'a ProductWithResources,
    pub product_type: ProductType,
    pub source: &'a User,
    pub target: &'a User,
    pub membership: &'a TargetMembership,
    pub contexts: &'a [ResourceContext],
    pub trees: &'a BTreeMap<String, Option<ResourceTree>>,
}

async fn entitlement_type(
    ctx: &RunCtx,
    deps: &Deps,
    step: &str,
    name: &str,
) -> Result<Option<EntitlementType>, FnError> {
    let db = &deps.db;
    ctx.step
        .run(step, || async {
            entitlements::get_entitlement_type(db, name).await.map_err(db_err)
        })
        .await
}

pub(super) async fn move_access(ctx: &RunCtx, deps: &Deps, t: Transfer<'_>) -> Result<(), FnError> {
    let db = &deps.db;
    let icfg = &deps.config.integrations;
    let cfg = t.product_type.config();
    let prefix = cfg.resource_type;
    let primary = t
        .contexts
        .iter()
        .find(|c| c.product_type == t.product_type)
        .ok_or_else(|| FnError::NonRetriable(format!("Primary resource ({prefix}) not found in product resources")))?;
    let primary_tree = t.trees.get(&primary.resource_id).cloned().flatten().ok_or_else(|| {
        FnError::NonRetriable(format!("Primary resource {} could not be loaded", primary.resource_id))
    })?;
    let content_type = entitlement_type(
        ctx,
        deps,
        &format!("get {prefix} content access entitlement type"),
        cfg.content_access,
    )
    .await?
    .ok_or_else(|| FnError::NonRetriable(format!("entitlement type {} not found", cfg.content_access)))?;
    let discord_type = entitlement_type(
        ctx,
        deps,
        &format!("get {prefix} discord role entitlement type"),
        cfg.discord_role,
    )
    .await?;

    let mut source_types = vec![content_type.id.clone()];
    source_types.extend(discord_type.iter().map(|d| d.id.clone()));
    let _: usize = ctx
        .step
        .run("remove entitlements from source user", || async {
            entitlements::soft_delete_purchase_entitlements_of_types(db, &t.purchase.id, &t.source.id, &source_types)
                .await
                .map_err(db_err)
        })
        .await?;

    let fallback = match t.product_type {
        ProductType::Cohort => icfg.discord_cohort_role_id.as_deref(),
        ProductType::SelfPaced => icfg.discord_purchaser_role_id.as_deref(),
    };
    let role = t.product.product.discord_role_id().or(fallback).map(str::to_string);
    if let Some(role) = &role {
        let _: Value = ctx
            .step
            .run("remove discord role from source user", || async {
                let types = role_type_ids(db).await.map_err(db_err)?;
                let keep = role_still_granted(db, &t.source.id, role, &types, &[])
                    .await
                    .map_err(db_err)?;
                remove_role(db, &deps.integrations.discord, &t.source.id, role, keep).await
            })
            .await?;
        let (event, key) = match t.product_type {
            ProductType::Cohort => (USER_ADDED_TO_COHORT, "cohortId"),
            ProductType::SelfPaced => (USER_ADDED_TO_WORKSHOP, "workshopId"),
        };
        ctx.step
            .send_event(
                "send-discord-role-event",
                vec![SendEvent::new(
                    event,
                    json!({key: primary.resource_id, "userId": t.target.id, "discordRoleId": role}),
                )],
            )
            .await?;
    }
    let grant = Grant {
        user_id: t.target.id.clone(),
        purchase_id: t.purchase.id.clone(),
        organization_id: Some(t.membership.organization_id.clone()),
        organization_membership_id: Some(t.membership.organization_membership_id.clone()),
        content_access_type_id: content_type.id.clone(),
    };
    let _: Value = ctx
        .step
        .run("add entitlements to target user", || async {
            let granted = entitlements::create_resource_entitlements(db, t.product_type, &primary_tree, &grant)
                .await
                .map_err(db_err)?;
            let discord = match (&discord_type, &role) {
                (Some(dt), Some(role)) => Some(
                    entitlements::ensure_discord_role_entitlement(db, &grant, &dt.id, &primary.resource_id, role)
                        .await
                        .map_err(db_err)?
                        .0
                        .id,
                ),
                _ => None,
            };
            Ok(json!({"granted": granted, "discordEntitlementId": discord}))
        })
        .await?;

    for c in t.contexts.iter().filter(|c| c.resource_id != primary.resource_id) {
        let Some(tree) = t.trees.get(&c.resource_id).cloned().flatten() else {
            continue;
        };
        let ccfg = c.product_type.config();
        let cprefix = ccfg.resource_type;
        let rid = &c.resource_id;
        let Some(ctype) = entitlement_type(
            ctx,
            deps,
            &format!("get {cprefix} content access entitlement type for {rid}"),
            ccfg.content_access,
        )
        .await?
        else {
            continue;
        };
        let _: usize = ctx
            .step
            .run(
                &format!("remove {cprefix} entitlements from source user for {rid}"),
                || async {
                    entitlements::soft_delete_purchase_entitlements_of_types(
                        db,
                        &t.purchase.id,
                        &t.source.id,
                        std::slice::from_ref(&ctype.id),
                    )
                    .await
                    .map_err(db_err)
                },
            )
            .await?;
        let g = Grant {
            content_access_type_id: ctype.id.clone(),
            ..grant.clone()
        };
        let _: Vec<GrantedEntitlement> = ctx
            .step
            .run("add entitlements to target user", || async {
                entitlements::create_resource_entitlements(db, c.product_type, &tree, &g)
                    .await
                    .map_err(db_err)
            })
            .await?;
    }

    let _: Value = ctx
        .step
        .run("transfer coupon entitlements", || async {
            if entitlements::get_entitlement_type(db, entitlements::APPLY_SPECIAL_CREDIT)
                .await
                .map_err(db_err)?
                .is_none()
            {
                return Ok(json!({"moved": []}));
            }
            let moved = entitlements::transfer_credit_entitlements(
                db,
                &t.source.id,
                &t.target.id,
                &t.purchase.product_id,
                Some(&t.membership.organization_id),
                Some(&t.membership.organization_membership_id),
            )
            .await
            .map_err(db_err)?;
            Ok(json!({"moved": moved.iter().map(|(from, to)| json!({"from": from, "to": to})).collect::<Vec<_>>()}))
        })
        .await?;
    Ok(())
}
