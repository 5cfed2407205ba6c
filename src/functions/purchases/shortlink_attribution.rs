//! `shortlink-attribution` — a purchase that came through one of our shortlinks is attributed to it (reference
//! §3.2).
//!
//! Trigger `purchase/created` (and `commerce/new-purchase-created`), every product type. Idempotency
//! `event.data.purchaseId`. Branches:
//! - No `checkoutSessionId` in the event, or Stripe not configured: returns `{skipped: true, reason}` at once.
//! - "get purchase", "get product", "get user" — read steps (`tx_step::read`: read-only, recorded with the run's
//!   next write); a missing row returns `{skipped: true, reason}` (the original's choice: attribution is best
//!   effort).
//! - "record attribution" — retrieves the Stripe checkout session (nothing expanded) and reads
//!   `metadata.shortlinkRef`. None:
//!   `{skipped, reason: "No shortlink reference in metadata"}`. An unknown slug: `{recorded: false, reason:
//!   "Shortlink not found"}` (the original returned `recorded: true` here). Else one `shortlink_attributions`
//!   row of type `purchase` with the metadata `{productId, productName, purchaseId, totalAmount (dollars),
//!   productType}`, and `{recorded: true, shortlinkRef, shortlinkId, userId}`.
//!
//! Decisions: the original caught every error and never retried, so a Stripe outage lost the attribution; here
//! Stripe's 429 (honouring `Retry-After`), 5xx and timeouts and database failures retry the step, and only a
//! refusal (a 4xx: the session does not exist) is returned as `{error}`. One attribution per purchase (a unique
//! key), so a step re-run after a crash records nothing twice.

use crate::functions::outputs::PurchaseOutput;
use crate::functions::purchases::purchase_fanout::{PURCHASE_CREATED, data_str, db_err};
use crate::functions::{Deps, event_triggers};
use crate::platform::commerce::products::{ProductWithResources, get_product_in};
use crate::platform::commerce::purchases::get_purchase_in;
use crate::platform::shortlinks;
use crate::platform::users::{User, get_user_in};
use crate::store::tx_step;
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde_json::{Value, json};

pub const ID: &str = "shortlink-attribution";

pub fn definition(deps: Deps) -> FunctionDef {
    event_triggers(PURCHASE_CREATED, None)
        .into_iter()
        .fold(
            FunctionDef::new(ID, "Shortlink Attribution", move |ctx| run(deps.clone(), ctx)),
            FunctionDef::trigger,
        )
        .idempotency("event.data.purchaseId")
        .summary("After a purchase: attributes it to the shortlink named in the Stripe checkout session's metadata (shortlinkRef), once.")
        .services(&["stripe"])
}

fn skipped(reason: &str) -> Value {
    json!({"skipped": true, "reason": reason})
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let icfg = &deps.config.integrations;
    let Some(session_id) = data_str(&ctx.event, "checkoutSessionId") else {
        return Ok(skipped("No checkout session id"));
    };
    if icfg.stripe_secret_key.is_none() && !icfg.dry_run {
        return Ok(skipped("No payment provider"));
    }
    let purchase_id = data_str(&ctx.event, "purchaseId").unwrap_or_default();

    // The three lookups are read steps (`tx_step::read`): read-only, recorded with the run's next write.
    let pid = purchase_id.clone();
    let purchase: Option<PurchaseOutput> = tx_step::read(&ctx.step, "get purchase", move |tx| {
        let purchase_id = pid.clone();
        Box::pin(async move {
            Ok(get_purchase_in(tx, &purchase_id)
                .await
                .map_err(db_err)?
                .map(PurchaseOutput::from))
        })
    })
    .await?;
    let Some(purchase) = purchase else {
        return Ok(skipped("Purchase not found"));
    };
    let product_id = purchase.product_id.clone();
    let product: Option<ProductWithResources> = tx_step::read(&ctx.step, "get product", move |tx| {
        let product_id = product_id.clone();
        Box::pin(async move { get_product_in(tx, &product_id).await.map_err(db_err) })
    })
    .await?;
    let Some(product) = product else {
        return Ok(skipped("Product not found"));
    };
    let buyer = purchase.user_id.clone().filter(|u| !u.is_empty());
    let user: Option<User> = tx_step::read(&ctx.step, "get user", move |tx| {
        let buyer = buyer.clone();
        Box::pin(async move {
            match buyer {
                Some(id) => get_user_in(tx, &id).await.map_err(db_err),
                None => Ok(None),
            }
        })
    })
    .await?;
    let Some(user) = user else {
        return Ok(skipped("User not found"));
    };

    ctx.step
        .run("record attribution", || async {
            let session = match deps.integrations.stripe.checkout_session_unexpanded(&session_id).await {
                Ok(s) => s,
                Err(e) if !e.is_retryable() => return Ok(json!({"recorded": false, "error": e.to_string()})),
                Err(e) => return Err(StepError::from(e)),
            };
            let Some(slug) = session
                .metadata
                .get("shortlinkRef")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
            else {
                return Ok(skipped("No shortlink reference in metadata"));
            };
            let p = &product.product;
            let metadata = json!({
                "productId": p.id,
                "productName": p.name,
                "purchaseId": purchase.id,
                "totalAmount": purchase.total_amount_cents as f64 / 100.0,
                "productType": p.kind,
            });
            match shortlinks::record_purchase_attribution(db, &slug, &purchase.id, &user.id, &user.email, &metadata)
                .await
            {
                Ok((a, _)) => Ok(
                    json!({"recorded": true, "shortlinkRef": slug, "shortlinkId": a.shortlink_id,
                    "userId": user.id}),
                ),
                Err(e) if e.is_not_found() => {
                    Ok(json!({"recorded": false, "reason": "Shortlink not found", "shortlinkRef": slug}))
                }
                Err(e) => Err(db_err(e)),
            }
        })
        .await
}
