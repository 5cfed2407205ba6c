//! `post-purchase-workflow` — a cohort or workshop was bought (or a team seat redeemed with a full-price coupon):
//! grant access, Discord roles and organization membership, and send the welcome emails (design document
//! "Post-Purchase Workflow", reference §3.2).
//!
//! Triggers: `purchase/created` and `coupon/full-price-redeemed` (and their original names
//! `commerce/new-purchase-created`, `commerce/full-price-coupon-redeemed`), each only when `event.data.productType`
//! is `cohort` or `self-paced`. Idempotency `event.data.purchaseId`. Steps:
//! 1. "get purchase", "get product", "get user" — a missing row fails the run non-retriably (missing data). All
//!    three are read steps (`tx_step::read`), recorded with the run's next write.
//! 2. sendEvent "grant coupon entitlements for purchase" → `coupon/grant-entitlements-for-purchase`
//!    `{purchaseId, userId, productId, purchaseStatus, totalAmount (dollars), totalAmountCents, bulkCouponId}`.
//! 3. "mark entitlement coupons as used" — for a new purchase with a checkout session: reads the Stripe session's
//!    `metadata.usedEntitlementCouponIds` and soft-deletes the buyer's special credits from those coupons. Skipped
//!    (with a reason) for a coupon redemption, without a session id or without Stripe. A session Stripe does not
//!    know is skipped as in the original; unlike the original, a Stripe outage is retried rather than leaving the
//!    credits usable again.
//! 4. "get bulk coupon data" — a full-price coupon redemption only: the team coupon and its original purchase (a
//!    read step).
//! 5. "gather all resource contexts" (none: non-retriable "No resources found for product"), "load resource data
//!    for all contexts" (each cohort/workshop with its nested content).
//! 6. Team purchase (the purchase has a bulk coupon): "get bulk coupon" (a read step), then per resource "send
//!    welcome email to team purchaser for \<resourceType>" (seats = the coupon's max uses). No access, roles or
//!    membership: seats get those when redeemed.
//! 7. Individual purchase, only if Valid or Restricted: "ensure org membership" (the purchase's organization with
//!    the `learner` role, invited by the team buyer for a redemption; else the personal organization), then per
//!    resource: the two entitlement-type lookups, sendEvent "send-discord-role-event for \<id>"
//!    (`discord/user-added-to-cohort` / `discord/user-added-to-workshop`), "add \<prefix> discord entitlement for
//!    \<id>" when a role is known (product `fields.discordRoleId`, else `DISCORD_COHORT_001_ROLE_ID` /
//!    `DISCORD_PURCHASER_ROLE_ID`), "add user to \<prefix> via entitlement for \<id>" (§6.2) and "send welcome
//!    email to individual for \<id>" (quantity 1; the team-redeemer variant for a redemption).
//!
//! Returns `{purchase, product, user, resourceContexts, isTeamPurchase, isFullPriceCouponRedemption,
//! bulkCouponData}`. A crash or retry repeats nothing: completed steps replay, grants never make a second live
//! entitlement, emitted events keep their ids, and every email carries a Message-ID fixed by the run and step.

mod individual;
pub(crate) mod welcome;

use crate::email::Template;
use crate::functions::outputs::PurchaseOutput;
use crate::functions::{Deps, event_triggers};
use crate::platform::commerce::coupons::{self, Coupon};
use crate::platform::commerce::product_types::{ProductType, ResourceContext, gather_resource_contexts};
use crate::platform::commerce::products::{ProductWithResources, get_product_in};
use crate::platform::commerce::purchases::get_purchase_in;
use crate::platform::content::{self, ResourceTree};
use crate::platform::entitlements;
use crate::platform::organizations;
use crate::platform::users::{User, get_user_in};
use crate::store::tx_step;
use welcome::WelcomeEmail;

use ingot_actors::{FnError, FunctionDef, SendEvent, StepError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const ID: &str = "post-purchase-workflow";
pub const PURCHASE_CREATED: &str = "purchase/created";
pub const FULL_PRICE_REDEEMED: &str = "coupon/full-price-redeemed";
pub const GRANT_COUPON_ENTITLEMENTS_FOR_PURCHASE: &str = "coupon/grant-entitlements-for-purchase";
pub const USER_ADDED_TO_COHORT: &str = "discord/user-added-to-cohort";
pub const USER_ADDED_TO_WORKSHOP: &str = "discord/user-added-to-workshop";
const CONDITION: &str = r#"event.data.productType == "cohort" || event.data.productType == "self-paced""#;

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Post Purchase Workflow", move |ctx| run(deps.clone(), ctx));
    for t in event_triggers(PURCHASE_CREATED, Some(CONDITION))
        .into_iter()
        .chain(event_triggers(FULL_PRICE_REDEEMED, Some(CONDITION)))
    {
        def = def.trigger(t);
    }
    def.idempotency("event.data.purchaseId")
        .summary("After a cohort or self-paced purchase or seat redemption: organization membership, content and Discord role entitlements, welcome emails; a team purchase gets its bulk coupon.")
        .services(&["stripe", "email"])
        .emits(&[
            GRANT_COUPON_ENTITLEMENTS_FOR_PURCHASE,
            USER_ADDED_TO_COHORT,
            USER_ADDED_TO_WORKSHOP,
        ])
}

/// A platform error inside a step: database failures retry, anything else (missing or bad data) does not.
fn db_err(e: crate::platform::Error) -> StepError {
    if e.is_retryable() {
        StepError::retryable(e.to_string())
    } else {
        StepError::fatal(e.to_string())
    }
}

fn is_coupon_redemption_event(name: &str) -> bool {
    crate::functions::EVENT_ALIASES
        .iter()
        .any(|(canonical, alias)| *canonical == FULL_PRICE_REDEEMED && *alias == name)
        || name == FULL_PRICE_REDEEMED
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkCouponData {
    coupon: Coupon,
    original_bulk_purchase: Option<PurchaseOutput>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Membership {
    organization_id: String,
    organization_membership_id: String,
}

async fn run(deps: Deps, ctx: ingot_actors::RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let icfg = &deps.config.integrations;
    let event_name = ctx.event["name"].as_str().unwrap_or_default().to_string();
    let data = &ctx.event["data"];
    let purchase_id = data["purchaseId"].as_str().unwrap_or_default().to_string();
    let checkout_session_id = data["checkoutSessionId"].as_str().map(str::to_string);
    let product_type_name = data["productType"].as_str().unwrap_or_default();
    let product_type = ProductType::parse(product_type_name).ok_or_else(|| {
        FnError::NonRetriable(format!(
            "product type {product_type_name:?} is not supported (cohort or self-paced)"
        ))
    })?;
    let coupon_event = is_coupon_redemption_event(&event_name);

    // "get purchase", "get product" and "get user" are read steps (`tx_step::read`): read-only, each recorded with
    // the run's next write instead of a commit of its own.
    let pid = purchase_id.clone();
    let purchase: PurchaseOutput = tx_step::read(&ctx.step, "get purchase", move |tx| {
        let purchase_id = pid.clone();
        Box::pin(async move {
            get_purchase_in(tx, &purchase_id)
                .await
                .map_err(db_err)?
                .map(PurchaseOutput::from)
                .ok_or_else(|| StepError::fatal(format!("purchase not found: {purchase_id:?}")))
        })
    })
    .await?;
    let product_id = purchase.product_id.clone();
    let product: ProductWithResources = tx_step::read(&ctx.step, "get product", move |tx| {
        let product_id = product_id.clone();
        Box::pin(async move {
            get_product_in(tx, &product_id)
                .await
                .map_err(db_err)?
                .ok_or_else(|| StepError::fatal(format!("product not found: {product_id:?}")))
        })
    })
    .await?;
    let (user_id, pid) = (purchase.user_id.clone(), purchase.id.clone());
    let user: User = tx_step::read(&ctx.step, "get user", move |tx| {
        let (user_id, purchase_id) = (user_id.clone(), pid.clone());
        Box::pin(async move {
            let id = user_id.ok_or_else(|| StepError::fatal(format!("purchase {purchase_id} has no user")))?;
            get_user_in(tx, &id)
                .await
                .map_err(db_err)?
                .ok_or_else(|| StepError::fatal(format!("user not found: {id:?}")))
        })
    })
    .await?;

    let is_team_purchase = purchase.bulk_coupon_id.is_some();
    let is_full_price_coupon_redemption = purchase.redeemed_bulk_coupon_id.is_some();

    ctx.step
        .send_event(
            "grant coupon entitlements for purchase",
            vec![SendEvent::new(
                GRANT_COUPON_ENTITLEMENTS_FOR_PURCHASE,
                json!({
                    "purchaseId": purchase.id,
                    "userId": purchase.user_id.clone().unwrap_or_else(|| user.id.clone()),
                    "productId": purchase.product_id,
                    "purchaseStatus": purchase.status,
                    "totalAmount": purchase.total_amount_cents as f64 / 100.0,
                    "totalAmountCents": purchase.total_amount_cents,
                    "bulkCouponId": purchase.bulk_coupon_id,
                }),
            )],
        )
        .await?;

    let _marked: Value = ctx
        .step
        .run("mark entitlement coupons as used", || async {
            let skip = |reason: &str| -> Result<Value, StepError> { Ok(json!({"marked": 0, "reason": reason})) };
            if coupon_event {
                return skip("Full-price coupon redemption");
            }
            let Some(session_id) = checkout_session_id.as_deref().filter(|s| !s.is_empty()) else {
                return skip("No checkout session id");
            };
            if icfg.stripe_secret_key.is_none() && !icfg.dry_run {
                return skip("No payment provider");
            }
            let session = match deps.integrations.stripe.checkout_session(session_id).await {
                Ok(s) => s,
                Err(e) if !e.is_retryable() => return skip("Checkout session not found"),
                Err(e) => return Err(e.into()),
            };
            let coupon_ids: Vec<String> = session
                .metadata
                .get("usedEntitlementCouponIds")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if coupon_ids.is_empty() {
                return skip("No entitlement coupons used");
            }
            let marked = entitlements::mark_coupon_credits_used(db, &user.id, &coupon_ids)
                .await
                .map_err(db_err)?;
            Ok(json!({"marked": marked, "couponIds": coupon_ids}))
        })
        .await?;

    let bulk_coupon_data: Option<BulkCouponData> = match &purchase.redeemed_bulk_coupon_id {
        Some(coupon_id) => {
            let coupon_id = coupon_id.clone();
            tx_step::read(&ctx.step, "get bulk coupon data", move |tx| {
                let coupon_id = coupon_id.clone();
                Box::pin(async move {
                    Ok(coupons::get_coupon_with_bulk_purchases_in(tx, &coupon_id)
                        .await
                        .map_err(db_err)?
                        .map(|c| BulkCouponData {
                            original_bulk_purchase: c.original_bulk_purchase().cloned().map(PurchaseOutput::from),
                            coupon: c.coupon,
                        }))
                })
            })
            .await?
        }
        None => None,
    };

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
    let loaded = || {
        contexts
            .iter()
            .filter_map(|c| resource_data.get(&c.resource_id).cloned().flatten().map(|t| (c, t)))
    };

    let email = WelcomeEmail {
        deps: &deps,
        run_id: &ctx.run_id,
        user: &user,
    };

    if let Some(bulk_coupon_id) = &purchase.bulk_coupon_id {
        let coupon_id = bulk_coupon_id.clone();
        let bulk_coupon: Option<Coupon> = tx_step::read(&ctx.step, "get bulk coupon", move |tx| {
            let coupon_id = coupon_id.clone();
            Box::pin(async move { coupons::get_coupon_in(tx, &coupon_id).await.map_err(db_err) })
        })
        .await?;
        let seats = bulk_coupon.as_ref().map(|c| c.max_uses).filter(|n| *n > 0).unwrap_or(1);
        for (c, tree) in loaded() {
            let name = format!("send welcome email to team purchaser for {}", c.resource_type);
            let template = match c.product_type {
                ProductType::Cohort => Template::WelcomeCohortTeamPurchaser,
                ProductType::SelfPaced => Template::WelcomeWorkshopTeamPurchaser,
            };
            let key = format!("{}/{}", name, c.resource_id);
            let mut vars = email.vars(c, &tree, seats);
            vars["invite_url"] = json!(format!("{}/?code={}", email.site_url(), bulk_coupon_id));
            let _: Value = ctx
                .step
                .run(&name, || async { email.send(&key, template, &vars).await })
                .await?;
        }
    } else if purchase.status.grants_access() {
        let membership: Membership = ctx
            .step
            .run("ensure org membership", || async {
                match &purchase.organization_id {
                    Some(org_id) => {
                        let invited_by = bulk_coupon_data
                            .as_ref()
                            .and_then(|b| b.original_bulk_purchase.as_ref())
                            .and_then(|p| p.user_id.clone())
                            .unwrap_or_else(|| user.id.clone());
                        let m = organizations::add_member_to_organization(db, org_id, &user.id, &invited_by)
                            .await
                            .map_err(db_err)?;
                        organizations::add_role_for_member(db, org_id, &m.id, "learner")
                            .await
                            .map_err(db_err)?;
                        Ok(Membership {
                            organization_id: org_id.clone(),
                            organization_membership_id: m.id,
                        })
                    }
                    None => {
                        let p = organizations::ensure_personal_organization_with_learner_role(db, &user)
                            .await
                            .map_err(db_err)?;
                        Ok(Membership {
                            organization_id: p.organization.id,
                            organization_membership_id: p.membership.id,
                        })
                    }
                }
            })
            .await?;

        for (c, tree) in loaded() {
            individual::grant_resource(
                &ctx,
                &deps,
                c,
                &tree,
                &purchase,
                &product,
                &user,
                &membership,
                &email,
                is_full_price_coupon_redemption,
            )
            .await?;
        }
    }

    Ok(json!({
        "purchase": purchase,
        "product": product,
        "user": user,
        "resourceContexts": contexts,
        "isTeamPurchase": is_team_purchase,
        "isFullPriceCouponRedemption": is_full_price_coupon_redemption,
        "bulkCouponData": bulk_coupon_data,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_redemption_event_by_either_name() {
        assert!(is_coupon_redemption_event("coupon/full-price-redeemed"));
        assert!(is_coupon_redemption_event("commerce/full-price-coupon-redeemed"));
        assert!(!is_coupon_redemption_event("purchase/created"));
        assert!(!is_coupon_redemption_event("commerce/new-purchase-created"));
    }
}
