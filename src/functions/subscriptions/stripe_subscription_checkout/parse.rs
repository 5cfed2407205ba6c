//! Reading Stripe subscription objects (from an expanded checkout session or a `customer.subscription.*` event)
//! and invoices. Pure, unit-tested; the subscription functions share it.

use crate::integrations::stripe::CheckoutSession;
use crate::platform::commerce::subscriptions::StripeState;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// An expanded object's id, or the id itself when Stripe sent it unexpanded.
pub fn id_of(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Object(_) => str_at(v, &["id"]),
        _ => None,
    }
}

/// Unix seconds as a timestamp.
pub fn time(v: &Value) -> Option<NaiveDateTime> {
    v.as_i64()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.naive_utc())
}

fn first_item(sub: &Value) -> &Value {
    sub.pointer("/items/data/0").unwrap_or(&Value::Null)
}

/// The subscription's status and current period (top level, or on its first item as in Stripe's newer API
/// versions), stamped with the event's `created`.
pub fn stripe_state(sub: &Value, event_created: Option<i64>) -> StripeState {
    let item = first_item(sub);
    let at = |k: &str| time(&sub[k]).or_else(|| time(&item[k]));
    StripeState {
        status: sub["status"].as_str().unwrap_or_default().to_string(),
        current_period_start: at("current_period_start"),
        current_period_end: at("current_period_end"),
        changed_at: event_created,
    }
}

/// The Stripe product a subscription sells: `plan.product`, else the first item's `price.product`.
pub fn product_identifier(sub: &Value) -> Option<String> {
    sub.pointer("/plan/product")
        .and_then(id_of)
        .or_else(|| first_item(sub).pointer("/price/product").and_then(id_of))
        .map(str::to_string)
}

/// What a subscription checkout records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionInfo {
    pub checkout_session_id: String,
    pub customer_identifier: String,
    pub email: String,
    pub name: Option<String>,
    pub subscription_identifier: String,
    pub product_identifier: String,
    pub price_identifier: Option<String>,
    pub quantity: i64,
    pub state: StripeState,
    /// `metadata.organizationId` (not the string "undefined").
    pub organization_id: Option<String>,
}

/// Parses a subscription checkout session retrieved with the expansions; `Err` names what is missing.
pub fn parse_session(cs: &CheckoutSession) -> Result<SubscriptionInfo, String> {
    let rest = Value::Object(cs.rest.clone());
    let customer = rest.get("customer").unwrap_or(&Value::Null);
    let details = rest.get("customer_details").unwrap_or(&Value::Null);
    let customer_identifier = id_of(customer)
        .ok_or_else(|| format!("checkout session {} has no customer", cs.id))?
        .to_string();
    let email = str_at(customer, &["email"])
        .or_else(|| str_at(details, &["email"]))
        .ok_or_else(|| format!("checkout session {} has no customer email", cs.id))?
        .trim()
        .to_string();
    let name = str_at(customer, &["name"])
        .or_else(|| str_at(details, &["name"]))
        .map(str::to_string);
    let sub = rest
        .get("subscription")
        .filter(|s| s.is_object())
        .ok_or_else(|| format!("checkout session {} has no expanded subscription", cs.id))?;
    let subscription_identifier = id_of(sub)
        .ok_or_else(|| format!("checkout session {}: the subscription has no id", cs.id))?
        .to_string();
    let product_identifier = product_identifier(sub)
        .ok_or_else(|| format!("checkout session {}: the subscription has no product", cs.id))?;
    let item = first_item(sub);
    Ok(SubscriptionInfo {
        checkout_session_id: cs.id.clone(),
        customer_identifier,
        email,
        name,
        subscription_identifier,
        product_identifier,
        price_identifier: item.get("price").and_then(id_of).map(str::to_string),
        quantity: item["quantity"].as_i64().unwrap_or(1).max(1),
        state: stripe_state(sub, None),
        organization_id: cs
            .metadata
            .get("organizationId")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "undefined"),
    })
}

/// The subscription an invoice pays for: `subscription` (id or expanded), or the newer
/// `parent.subscription_details.subscription`.
pub fn invoice_subscription(invoice: &Value) -> Option<String> {
    invoice
        .get("subscription")
        .and_then(id_of)
        .or_else(|| {
            invoice
                .pointer("/parent/subscription_details/subscription")
                .and_then(id_of)
        })
        .map(str::to_string)
}

/// The period an invoice paid: its first line's period, else the invoice's own.
pub fn invoice_period(invoice: &Value) -> (Option<NaiveDateTime>, Option<NaiveDateTime>) {
    match invoice.pointer("/lines/data/0/period") {
        Some(p) if p.is_object() => (time(&p["start"]), time(&p["end"])),
        _ => (time(&invoice["period_start"]), time(&invoice["period_end"])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_periods_from_the_top_or_the_first_item() {
        let top =
            json!({"status": "active", "current_period_start": 1_700_000_000, "current_period_end": 1_702_592_000});
        let s = stripe_state(&top, Some(5));
        assert_eq!(s.status, "active");
        assert_eq!(s.current_period_end, time(&json!(1_702_592_000)));
        assert_eq!(s.changed_at, Some(5));
        let item =
            json!({"status": "trialing", "items": {"data": [{"current_period_start": 1, "current_period_end": 2}]}});
        assert_eq!(stripe_state(&item, None).current_period_start, time(&json!(1)));
    }

    #[test]
    fn parses_a_subscription_session() {
        let cs: CheckoutSession = serde_json::from_value(json!({
            "id": "cs_s", "mode": "subscription", "metadata": {"organizationId": "undefined"},
            "customer": {"id": "cus_1", "email": "a@example.com"},
            "subscription": {"id": "sub_1", "status": "active", "plan": {"product": {"id": "prod_s"}},
                             "items": {"data": [{"quantity": 2, "price": {"id": "price_s"}}]}},
        }))
        .unwrap();
        let info = parse_session(&cs).unwrap();
        assert_eq!(
            (
                info.subscription_identifier.as_str(),
                info.product_identifier.as_str(),
                info.quantity
            ),
            ("sub_1", "prod_s", 2)
        );
        assert_eq!(
            (info.organization_id, info.price_identifier.as_deref()),
            (None, Some("price_s"))
        );
        let mut bare = cs.clone();
        bare.rest.remove("subscription");
        assert!(parse_session(&bare).unwrap_err().contains("no expanded subscription"));
    }

    #[test]
    fn finds_an_invoice_subscription_in_either_shape() {
        assert_eq!(
            invoice_subscription(&json!({"subscription": "sub_1"})).as_deref(),
            Some("sub_1")
        );
        let newer = json!({"parent": {"subscription_details": {"subscription": "sub_2"}}});
        assert_eq!(invoice_subscription(&newer).as_deref(), Some("sub_2"));
        assert_eq!(invoice_subscription(&json!({"subscription": null})), None);
        let (s, e) = invoice_period(&json!({"lines": {"data": [{"period": {"start": 10, "end": 20}}]}}));
        assert_eq!((s, e), (time(&json!(10)), time(&json!(20))));
    }
}
