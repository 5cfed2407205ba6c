//! What the functions that fan out from `purchase/created` share (`post-event-purchase`,
//! `send-live-event-welcome-email`, `shortlink-attribution`, `send-post-purchase-email`,
//! `send-post-purchase-slack`, `add-purchases-convertkit`): the event names, reading the event's ids, and
//! loading the purchase, its product and its buyer as the bodies of read steps (`tx_step::read`: read-only, each
//! recorded with the run's next write instead of a commit of its own).

use crate::functions::outputs::PurchaseOutput;
use crate::platform::commerce::products::{ProductWithResources, get_product_in};
use crate::platform::commerce::purchases::get_purchase_in;
use crate::platform::content::ContentResource;
use crate::platform::users::{User, get_user_in};
use crate::store::DbTx;
use ingot_actors::StepError;
use serde_json::Value;

pub const PURCHASE_CREATED: &str = "purchase/created";
pub const FULL_PRICE_REDEEMED: &str = "coupon/full-price-redeemed";
/// The `if` of the live-event functions.
pub const LIVE: &str = r#"event.data.productType == "live""#;

/// A platform error inside a step: database failures retry, anything else (missing or bad data) does not.
pub fn db_err(e: crate::platform::Error) -> StepError {
    if e.is_retryable() {
        StepError::retryable(e.to_string())
    } else {
        StepError::fatal(e.to_string())
    }
}

/// A non-empty string field of `event.data`.
pub fn data_str(event: &Value, key: &str) -> Option<String> {
    event["data"][key]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The purchase, or a non-retriable "purchase not found".
pub async fn load_purchase(tx: &mut DbTx<'_>, id: &str) -> Result<PurchaseOutput, StepError> {
    get_purchase_in(tx, id)
        .await
        .map_err(db_err)?
        .map(PurchaseOutput::from)
        .ok_or_else(|| StepError::fatal(format!("Purchase not found: {id:?}")))
}

/// The purchase's product with its resources, or a non-retriable "product not found".
pub async fn load_product(tx: &mut DbTx<'_>, purchase: &PurchaseOutput) -> Result<ProductWithResources, StepError> {
    get_product_in(tx, &purchase.product_id)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StepError::fatal(format!("Product not found: {:?}", purchase.product_id)))
}

/// The buyer, or non-retriable when the purchase has none or the user is gone.
pub async fn load_buyer(tx: &mut DbTx<'_>, purchase: &PurchaseOutput) -> Result<User, StepError> {
    let id = purchase
        .user_id
        .as_deref()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| StepError::fatal(format!("Purchase {} has no user", purchase.id)))?;
    get_user_in(tx, id)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StepError::fatal(format!("User not found: {id:?}")))
}

/// The first `event` or `event-series` a product sells (by position).
pub fn event_resource_of(product: &ProductWithResources) -> Option<&ContentResource> {
    product
        .resources
        .iter()
        .map(|r| &r.resource)
        .find(|r| r.kind == "event" || r.kind == "event-series")
}

/// The first word of a name (`Ada Lovelace` → `Ada`).
pub fn first_name(name: Option<&str>) -> Option<String> {
    name.and_then(|n| n.split_whitespace().next()).map(str::to_string)
}
