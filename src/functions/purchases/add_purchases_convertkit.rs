//! `add-purchases-convertkit` — the buyer's ConvertKit subscriber (in both accounts) gets the purchase date
//! (reference §3.2 `add-purchase-convertkit`, §8.5).
//!
//! Trigger `purchase/created` (and `commerce/new-purchase-created`), every product type. Idempotency
//! `event.data.purchaseId` — decision (shared/spec README): per purchase, not per buyer email as the original
//! (which synced only the first of a buyer's purchases in 24 h). Steps:
//! 1. "get purchase" — the purchase and its product; missing: non-retriable.
//! 2. "get user" — the purchase's buyer (else `event.user.id`); missing: non-retriable.
//! 3. The field: `purchased_<product slug, '-' → '_'>_on`, else `CONVERTKIT_PURCHASED_ON_FIELD_NAME`, else
//!    `purchased_on`; the value: the purchase's creation time as `yyyy-MM-dd HH:mm:ss z` in UTC.
//! 4. Main account (`CONVERTKIT_API_KEY` / `_SECRET`): "get convertkit user" (by the email, lower-cased); found:
//!    "update convertkit user" — creates the custom field first when the subscriber does not carry it (an
//!    existing label answers 422, which is fine), then `PUT subscribers/{id}` with the field. Not a subscriber:
//!    nothing (the original never creates one).
//! 5. The "tt" account (`TT_CONVERTKIT_API_KEY` / `_SECRET`): "get tt convertkit user", "update tt convertkit
//!    user", the same way.
//!
//! An account whose key or secret is unset is reported `{skipped: "not configured"}` rather than failing every
//! purchase's run. ConvertKit's 429 (honouring `Retry-After`), 5xx and timeouts retry the step; a 4xx fails the
//! run. Setting a field is idempotent, so a step re-run after a crash changes nothing. Returns `{purchaseId,
//! email, field, value, convertkit, ttConvertkit}` (each account: `{found, subscriberId, updated,
//! fieldCreated}`) — the original returned a leftover string.

use crate::functions::outputs::PurchaseOutput;
use crate::functions::purchases::purchase_fanout::{PURCHASE_CREATED, data_str, db_err, load_purchase};
use crate::functions::{Deps, event_triggers};
use crate::integrations::convertkit::{ConvertKit, Subscriber};
use crate::platform::commerce::products::{Product, get_product_row_in};
use crate::platform::json_str;
use crate::platform::users::{User, get_user_in};
use crate::store::tx_step;
use chrono::NaiveDateTime;
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub const ID: &str = "add-purchases-convertkit";

pub fn definition(deps: Deps) -> FunctionDef {
    event_triggers(PURCHASE_CREATED, None)
        .into_iter()
        .fold(
            FunctionDef::new(ID, "Add Purchase to ConvertKit", move |ctx| run(deps.clone(), ctx)),
            FunctionDef::trigger,
        )
        .idempotency("event.data.purchaseId")
        .summary("After a purchase: sets the purchased-on date field of the buyer's ConvertKit subscriber, in the main and the tt account.")
        .services(&["convertkit"])
}

/// `purchased_<slug>_on` (dashes → underscores), else the configured name, else `purchased_on`.
pub fn purchased_on_field(product: &Product, configured: Option<&str>) -> String {
    match json_str(&product.fields, "slug")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(slug) => format!("purchased_{}_on", slug.replace('-', "_")),
        None => configured.unwrap_or("purchased_on").to_string(),
    }
}

/// `yyyy-MM-dd HH:mm:ss z`, in UTC.
pub fn purchased_on_value(created_at: NaiveDateTime) -> String {
    format!("{} UTC", created_at.format("%Y-%m-%d %H:%M:%S"))
}

/// Sets `field` on a subscriber, creating the custom field first if the subscriber does not carry it.
pub async fn set_field(ck: &ConvertKit, sub: &Subscriber, field: &str, value: &str) -> Result<Value, StepError> {
    let field_created = if sub.fields.contains_key(field) {
        false
    } else {
        ck.create_field(field).await?
    };
    let mut fields = Map::new();
    fields.insert(field.to_string(), json!(value));
    let after = ck.update_fields(sub.id, &fields).await?;
    Ok(
        json!({"subscriberId": sub.id, "updated": true, "fieldCreated": field_created,
        "value": after.fields.get(field).cloned().unwrap_or(json!(value))}),
    )
}

/// The purchase and its product, as the first step returns them.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseAndProduct {
    pub purchase: PurchaseOutput,
    pub product: Product,
}

/// Looks the subscriber up in one account and sets the field: steps `get <label> user`, `update <label> user`.
pub async fn sync_account(
    ctx: &RunCtx,
    ck: &ConvertKit,
    label: &str,
    email: &str,
    field: &str,
    value: &str,
) -> Result<Value, FnError> {
    if !ck.configured() {
        return Ok(json!({"skipped": "not configured"}));
    }
    let sub: Option<Subscriber> = ctx
        .step
        .run(&format!("get {label} user"), || async {
            Ok(ck.find_subscriber(email).await?)
        })
        .await?;
    let Some(sub) = sub else {
        return Ok(json!({"found": false, "updated": false}));
    };
    let mut done: Value = ctx
        .step
        .run(&format!("update {label} user"), || async {
            set_field(ck, &sub, field, value).await
        })
        .await?;
    done["found"] = json!(true);
    Ok(done)
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let icfg = &deps.config.integrations;
    let purchase_id = data_str(&ctx.event, "purchaseId")
        .ok_or_else(|| FnError::NonRetriable("The event has no purchaseId".into()))?;
    let event_user = ctx.event["user"]["id"].as_str().map(str::to_string);

    // Read steps (`tx_step::read`): recorded with the run's next write.
    let id = purchase_id.clone();
    let pp: PurchaseAndProduct = tx_step::read(&ctx.step, "get purchase", move |tx| {
        let purchase_id = id.clone();
        Box::pin(async move {
            let purchase = load_purchase(tx, &purchase_id).await?;
            let product = get_product_row_in(tx, &purchase.product_id)
                .await
                .map_err(db_err)?
                .ok_or_else(|| StepError::fatal(format!("Product not found: {:?}", purchase.product_id)))?;
            Ok(PurchaseAndProduct { purchase, product })
        })
    })
    .await?;
    let (buyer, purchase) = (pp.purchase.user_id.clone().or(event_user), pp.purchase.id.clone());
    let user: User = tx_step::read(&ctx.step, "get user", move |tx| {
        let (buyer, purchase) = (buyer.clone(), purchase.clone());
        Box::pin(async move {
            let id = buyer
                .filter(|u| !u.is_empty())
                .ok_or_else(|| StepError::fatal(format!("Purchase {purchase} has no user")))?;
            get_user_in(tx, &id)
                .await
                .map_err(db_err)?
                .ok_or_else(|| StepError::fatal(format!("User not found: {id:?}")))
        })
    })
    .await?;

    let field = purchased_on_field(&pp.product, icfg.convertkit_purchased_on_field.as_deref());
    let value = purchased_on_value(pp.purchase.created_at);
    let integrations = &deps.integrations;
    let main = sync_account(
        &ctx,
        &integrations.convertkit,
        "convertkit",
        &user.email,
        &field,
        &value,
    )
    .await?;
    let tt = sync_account(
        &ctx,
        &integrations.tt_convertkit,
        "tt convertkit",
        &user.email,
        &field,
        &value,
    )
    .await?;
    Ok(json!({
        "purchaseId": pp.purchase.id,
        "email": user.email,
        "field": field,
        "value": value,
        "convertkit": main,
        "ttConvertkit": tt,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(fields: Value) -> Product {
        Product {
            id: "p".into(),
            organization_id: None,
            name: "P".into(),
            kind: "live".into(),
            fields,
            status: 1,
            quantity_available: -1,
            created_at: chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc(),
        }
    }

    #[test]
    fn the_field_follows_the_slug_then_the_setting() {
        let slugged = product(json!({"slug": "office-hours-2"}));
        assert_eq!(purchased_on_field(&slugged, Some("x")), "purchased_office_hours_2_on");
        assert_eq!(purchased_on_field(&product(json!({})), Some("bought_on")), "bought_on");
        assert_eq!(purchased_on_field(&product(json!({"slug": " "})), None), "purchased_on");
        let t = chrono::NaiveDate::from_ymd_opt(2026, 12, 2)
            .unwrap()
            .and_hms_opt(22, 30, 5)
            .unwrap();
        assert_eq!(purchased_on_value(t), "2026-12-02 22:30:05 UTC");
    }
}
