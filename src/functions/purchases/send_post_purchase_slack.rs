//! `send-post-purchase-slack` — the team hears about every sale in Slack (reference §4).
//!
//! Trigger `purchase/created` (and `commerce/new-purchase-created`), every product type. Idempotency
//! `event.data.checkoutSessionId`, as the original. Branches and steps:
//! - Slack not configured (`SLACK_WEBHOOK_URL` unset): returns `{error: "No notification provider"}` at once, as
//!   the original did without a notification provider.
//! - "load the new purchase" — missing: non-retriable.
//! - "load the new purchase info" — the Stripe checkout session (`event.data.checkoutSessionId`, with the
//!   expansions) parsed as the checkout does, for the buyer's email and the quantity; the product's name from our
//!   catalogue; the amount from the purchase. No session id, a session Stripe refuses (4xx) or cannot be parsed:
//!   non-retriable; Stripe's 429 (honouring `Retry-After`), 5xx and timeouts retry.
//! - "send slack notification" — one message through the incoming webhook: text "Someone purchased \<product>",
//!   username "Announce Bot", icon `:robot_face:`, one attachment titled "Sold (\<qty>) \<product>" with "Somebody
//!   (\<email>) bought \<qty> copy|copies of \<product> for $\<amount>[ as an upgrade]", colour `#eba234`. Slack's
//!   429 (with `Retry-After`) and 5xx retry; its 4xx (`invalid_payload`, `no_service`) fail the run.
//!
//! Decision: `SLACK_WEBHOOK_URL` (the design document's setting) rather than the original's bot token and
//! `SLACK_DEFAULT_CHANNEL_ID`: the webhook belongs to one channel. A webhook post has no idempotency key, so a
//! crash between Slack's acceptance and the step's record posts the message again (at least once); every step
//! before it replays. Returns `{posted: true, text, attachment}`.

use crate::functions::outputs::PurchaseOutput;
use crate::functions::purchases::purchase_fanout::{PURCHASE_CREATED, data_str, db_err, load_purchase};
use crate::functions::purchases::stripe_checkout_session_completed::parse;
use crate::functions::{Deps, event_triggers};
use crate::platform::commerce::products::get_product_row;
use crate::store::tx_step;
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const ID: &str = "send-post-purchase-slack";

pub fn definition(deps: Deps) -> FunctionDef {
    event_triggers(PURCHASE_CREATED, None)
        .into_iter()
        .fold(
            FunctionDef::new(ID, "Send Post Purchase Slack Notification", move |ctx| {
                run(deps.clone(), ctx)
            }),
            FunctionDef::trigger,
        )
        .idempotency("event.data.checkoutSessionId")
        .summary("After a purchase: posts the sale (product, quantity, buyer, amount) to the team's Slack channel.")
        .services(&["stripe", "slack"])
}

/// What the message says about the sale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SaleInfo {
    pub product_name: String,
    pub quantity: i32,
    pub email: String,
    pub total_amount_cents: i64,
    pub upgrade: bool,
}

/// Dollars as the platform prints them: `500`, `99.5`.
pub fn dollars(cents: i64) -> String {
    if cents % 100 == 0 {
        (cents / 100).to_string()
    } else {
        format!("{}", cents as f64 / 100.0)
    }
}

/// The message payload.
pub fn message(sale: &SaleInfo) -> Value {
    let copies = if sale.quantity > 1 { "copies" } else { "copy" };
    let upgrade = if sale.upgrade { " as an upgrade" } else { "" };
    let title = format!("Sold ({}) {}", sale.quantity, sale.product_name);
    json!({
        "username": "Announce Bot",
        "icon_emoji": ":robot_face:",
        "text": format!("Someone purchased {}", sale.product_name),
        "attachments": [{
            "fallback": title,
            "title": title,
            "text": format!("Somebody ({}) bought {} {copies} of {} for ${}{upgrade}",
                sale.email, sale.quantity, sale.product_name, dollars(sale.total_amount_cents)),
            "color": "#eba234",
        }],
    })
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let slack = &deps.integrations.slack;
    if !slack.configured() {
        return Ok(json!({"error": "No notification provider"}));
    }
    let purchase_id = data_str(&ctx.event, "purchaseId")
        .ok_or_else(|| FnError::NonRetriable("The event has no purchaseId".into()))?;
    let session_id = data_str(&ctx.event, "checkoutSessionId");

    let id = purchase_id.clone();
    let purchase: PurchaseOutput = tx_step::read(&ctx.step, "load the new purchase", move |tx| {
        let id = id.clone();
        Box::pin(async move { load_purchase(tx, &id).await })
    })
    .await?;
    let sale: SaleInfo = ctx
        .step
        .run("load the new purchase info", || async {
            let session_id = session_id
                .as_deref()
                .ok_or_else(|| StepError::fatal("The event has no checkoutSessionId"))?;
            let session = deps.integrations.stripe.checkout_session(session_id).await?;
            let info = parse::parse(&session).map_err(StepError::fatal)?;
            let product_name = get_product_row(db, &purchase.product_id)
                .await
                .map_err(db_err)?
                .map(|p| p.name)
                .ok_or_else(|| StepError::fatal(format!("Product not found: {:?}", purchase.product_id)))?;
            Ok(SaleInfo {
                product_name,
                quantity: info.session.quantity,
                email: info.email,
                total_amount_cents: purchase.total_amount_cents,
                upgrade: purchase.upgraded_from_id.is_some(),
            })
        })
        .await?;
    ctx.step
        .run("send slack notification", || async {
            let body = message(&sale);
            slack.post_message(body.clone()).await?;
            Ok(json!({"posted": true, "text": body["text"], "attachment": body["attachments"][0]}))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_reads_like_the_platforms() {
        let sale = SaleInfo {
            product_name: "Office Hours".into(),
            quantity: 3,
            email: "ada@example.com".into(),
            total_amount_cents: 15_050,
            upgrade: true,
        };
        let m = message(&sale);
        assert_eq!(m["text"], "Someone purchased Office Hours");
        assert_eq!(m["attachments"][0]["title"], "Sold (3) Office Hours");
        assert_eq!(
            m["attachments"][0]["text"],
            "Somebody (ada@example.com) bought 3 copies of Office Hours for $150.5 as an upgrade"
        );
        let one = SaleInfo {
            quantity: 1,
            upgrade: false,
            total_amount_cents: 5_000,
            ..sale
        };
        assert_eq!(
            message(&one)["attachments"][0]["text"],
            "Somebody (ada@example.com) bought 1 copy of Office Hours for $50"
        );
    }
}
