//! `sync-purchase-tags` — a manual backfill: every buyer's ConvertKit subscriber (main account) gets the
//! purchased-on field of each of their purchases (reference §3.2).
//!
//! Trigger `sync/purchase-tags` (design document) and the original `purchase/sync-tags`. `data` may carry
//! `purchaseId` (sync that purchase only), `after` (resume after this purchase id) and `batchSize` (1–200,
//! default 200). Steps:
//! 1. "get purchases" — the Valid and Restricted purchases that have a buyer, by id, after `after`, one batch;
//!    each with its ConvertKit field and value (as `add-purchases-convertkit`: `purchased_<slug>_on`, the
//!    creation time in UTC).
//! 2. Per purchase, the same step names every time (the engine numbers repeats `name`, `name:1`, ... as
//!    Inngest does): "get user" (gone: non-retriable, as the original — the buyer is a foreign key, so only a
//!    concurrent deletion gets there), "get convertkit user", "update convertkit user" when the email is a subscriber, then the
//!    durable sleep "sleep for 200ms" (ConvertKit's rate limit, as the original).
//! 3. More purchases left: sendEvent "continue with the next purchases" → `sync/purchase-tags` `{after: <last
//!    id>, batchSize}` — decision: a run holds at most 1,000 steps (four per purchase), so the backfill goes on
//!    in a new run per batch instead of failing past ~250 purchases.
//!
//! "get purchases" and "get user" are read steps (`tx_step::read`: read-only, no commit of their own, recorded with
//! the next step's).
//!
//! ConvertKit not configured: non-retriable, naming the settings. Its 429 (honouring `Retry-After`), 5xx and
//! timeouts retry the step; a crash replays every finished step and sleep. Returns `{purchases, updated,
//! notSubscribed, next}`.

use crate::functions::purchases::add_purchases_convertkit::{purchased_on_field, purchased_on_value, set_field};
use crate::functions::purchases::purchase_fanout::{data_str, db_err};
use crate::functions::{Deps, event_triggers};
use crate::integrations::convertkit::Subscriber;
use crate::platform::commerce::PurchaseStatus;
use crate::platform::commerce::products::get_product_row_in;
use crate::platform::commerce::purchases::{get_purchase_in, purchases_page_with_status_in};
use crate::platform::users::{User, get_user_in};
use crate::store::tx_step;
use ingot_actors::{FnError, FunctionDef, RunCtx, SendEvent, StepError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

pub const ID: &str = "sync-purchase-tags";
pub const EVENT: &str = "sync/purchase-tags";
/// The most purchases one run syncs (four steps each, under the 1,000-step limit).
pub const MAX_BATCH: i64 = 200;

pub fn definition(deps: Deps) -> FunctionDef {
    event_triggers(EVENT, None)
        .into_iter()
        .fold(
            FunctionDef::new(ID, "Sync Purchase Tags", move |ctx| run(deps.clone(), ctx)),
            FunctionDef::trigger,
        )
        .summary("Manual backfill: sets the purchased-on ConvertKit field for every Valid or Restricted purchase's buyer, 200 ms apart, a batch per run.")
        .services(&["convertkit"])
        .emits(&[EVENT])
}

/// One purchase to sync.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    purchase_id: String,
    user_id: String,
    field: String,
    value: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Batch {
    items: Vec<Item>,
    /// The last purchase id of a full batch: where the next run starts.
    next: Option<String>,
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let ck = &deps.integrations.convertkit;
    if !ck.configured() {
        return Err(FnError::NonRetriable(
            "ConvertKit is not configured: CONVERTKIT_API_KEY and CONVERTKIT_API_SECRET are needed".into(),
        ));
    }
    let only = data_str(&ctx.event, "purchaseId");
    let after = data_str(&ctx.event, "after");
    let batch_size = ctx.event["data"]["batchSize"]
        .as_i64()
        .unwrap_or(MAX_BATCH)
        .clamp(1, MAX_BATCH);
    let field_name = deps.config.integrations.convertkit_purchased_on_field.clone();

    // Lookups are read steps: recorded with the run's next write, no commit of their own.
    let batch: Batch = tx_step::read(&ctx.step, "get purchases", move |tx| {
        let (only, after, field_name) = (only.clone(), after.clone(), field_name.clone());
        Box::pin(async move {
            let access = [PurchaseStatus::Valid, PurchaseStatus::Restricted];
            let (purchases, next) = match &only {
                Some(id) => {
                    let p = get_purchase_in(tx, id).await.map_err(db_err)?;
                    let p = p.filter(|p| access.contains(&p.status) && p.user_id.is_some());
                    (p.into_iter().collect::<Vec<_>>(), None)
                }
                None => {
                    let page = purchases_page_with_status_in(tx, &access, after.as_deref(), batch_size + 1)
                        .await
                        .map_err(db_err)?;
                    let more = page.len() as i64 > batch_size;
                    let page: Vec<_> = page.into_iter().take(batch_size as usize).collect();
                    let next = more.then(|| page.last().map(|p| p.id.clone())).flatten();
                    (page, next)
                }
            };
            let mut items = Vec::new();
            for p in purchases {
                let product = get_product_row_in(tx, &p.product_id).await.map_err(db_err)?;
                let field = match &product {
                    Some(product) => purchased_on_field(product, field_name.as_deref()),
                    None => field_name.clone().unwrap_or_else(|| "purchased_on".into()),
                };
                items.push(Item {
                    purchase_id: p.id.clone(),
                    user_id: p.user_id.clone().unwrap_or_default(),
                    field,
                    value: purchased_on_value(p.created_at),
                });
            }
            Ok(Batch { items, next })
        })
    })
    .await?;

    let (mut updated, mut not_subscribed) = (0, 0);
    for item in &batch.items {
        let buyer = item.user_id.clone();
        let user: User = tx_step::read(&ctx.step, "get user", move |tx| {
            let buyer = buyer.clone();
            Box::pin(async move {
                get_user_in(tx, &buyer)
                    .await
                    .map_err(db_err)?
                    .ok_or_else(|| StepError::fatal(format!("User not found: {buyer:?}")))
            })
        })
        .await?;
        let sub: Option<Subscriber> = ctx
            .step
            .run("get convertkit user", || async {
                Ok(ck.find_subscriber(&user.email).await?)
            })
            .await?;
        match sub {
            Some(sub) => {
                let _: Value = ctx
                    .step
                    .run("update convertkit user", || async {
                        set_field(ck, &sub, &item.field, &item.value).await
                    })
                    .await?;
                updated += 1;
            }
            None => not_subscribed += 1,
        }
        ctx.step.sleep("sleep for 200ms", Duration::from_millis(200)).await?;
    }

    if let Some(last) = &batch.next {
        ctx.step
            .send_event(
                "continue with the next purchases",
                vec![SendEvent::new(EVENT, json!({"after": last, "batchSize": batch_size}))],
            )
            .await?;
    }
    Ok(json!({
        "purchases": batch.items.len(),
        "updated": updated,
        "notSubscribed": not_subscribed,
        "next": batch.next,
    }))
}
