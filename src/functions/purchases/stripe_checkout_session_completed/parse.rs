//! "parse checkout session": what the purchase needs from a Stripe checkout session retrieved with
//! [`CHECKOUT_EXPAND`](crate::integrations::stripe::CHECKOUT_EXPAND). Pure, so every shape Stripe may send is
//! unit-tested here; a session that lacks what a purchase needs is a non-retriable error naming the field.

use crate::integrations::stripe::CheckoutSession;
use crate::platform::commerce::checkout::ParsedCheckoutSession;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How the checkout relates to what the buyer already has (the original's classification; informational).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PurchaseType {
    NewIndividualPurchase,
    NewBulkCoupon,
    IndividualToBulkUpgrade,
    ExistingBulkCoupon,
}

/// The parsed session: the buyer, the Stripe product and what the purchase records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseInfo {
    pub customer_identifier: String,
    pub email: String,
    pub name: Option<String>,
    /// The Stripe product id (`prod_...`), the key of our merchant product.
    pub product_identifier: String,
    /// The Stripe price id, when present.
    pub price_identifier: Option<String>,
    pub purchase_type: PurchaseType,
    #[serde(flatten)]
    pub session: ParsedCheckoutSession,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// An expanded object's id, or the id itself when Stripe sent it unexpanded.
fn id_of(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Object(_) => str_at(v, &["id"]),
        _ => None,
    }
}

fn non_empty(m: &std::collections::BTreeMap<String, String>, key: &str) -> Option<String> {
    m.get(key).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Parses the session. `purchase_type` is decided by the caller (it needs the database) and starts as
/// [`PurchaseType::NewIndividualPurchase`]. `Err` names what is missing.
pub fn parse(cs: &CheckoutSession) -> Result<PurchaseInfo, String> {
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
    let item = rest
        .get("line_items")
        .and_then(|l| l.get("data"))
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .ok_or_else(|| format!("checkout session {} has no line items", cs.id))?;
    let product_identifier = item
        .get("price")
        .and_then(|p| p.get("product"))
        .and_then(id_of)
        .ok_or_else(|| format!("checkout session {}: the line item has no price product", cs.id))?
        .to_string();
    let price_identifier = item.get("price").and_then(id_of).map(str::to_string);
    let quantity = item.get("quantity").and_then(Value::as_i64).unwrap_or(1).max(1);
    let quantity = i32::try_from(quantity).map_err(|_| format!("quantity {quantity} is out of range"))?;
    let stripe_coupon_id = item
        .get("discounts")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .and_then(|d| d.get("discount").and_then(|d| d.get("coupon")))
        .and_then(id_of)
        .map(str::to_string);
    let charge = rest
        .get("payment_intent")
        .and_then(|pi| pi.get("latest_charge"))
        .filter(|c| c.is_object())
        .ok_or_else(|| {
            format!(
                "checkout session {} has no charge (payment_intent.latest_charge)",
                cs.id
            )
        })?;
    let stripe_charge_id = id_of(charge)
        .ok_or_else(|| format!("checkout session {}: the charge has no id", cs.id))?
        .to_string();
    let stripe_charge_amount_cents = charge
        .get("amount")
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("checkout session {}: the charge has no amount", cs.id))?;
    let m = &cs.metadata;
    Ok(PurchaseInfo {
        customer_identifier,
        email,
        name,
        product_identifier,
        price_identifier,
        purchase_type: PurchaseType::NewIndividualPurchase,
        session: ParsedCheckoutSession {
            checkout_session_id: cs.id.clone(),
            stripe_charge_id,
            stripe_charge_amount_cents,
            quantity,
            stripe_coupon_id,
            applied_ppp_stripe_coupon_id: non_empty(m, "appliedPPPStripeCouponId"),
            used_coupon_id: non_empty(m, "usedCouponId"),
            upgraded_from_purchase_id: non_empty(m, "upgradedFromPurchaseId"),
            country: non_empty(m, "country"),
            organization_id: non_empty(m, "organizationId"),
            bulk: m.get("bulk").is_some_and(|b| b == "true"),
        },
    })
}

/// The original's classification, from what the buyer owned before this checkout: a bulk coupon of theirs for
/// the product (more seats on it), an individual purchase turning into a team one, or a fresh team or individual
/// purchase.
pub fn classify(quantity: i32, bulk: bool, owns_bulk_coupon: bool, owns_individual: bool) -> PurchaseType {
    if owns_bulk_coupon {
        PurchaseType::ExistingBulkCoupon
    } else if owns_individual {
        PurchaseType::IndividualToBulkUpgrade
    } else if quantity > 1 || bulk {
        PurchaseType::NewBulkCoupon
    } else {
        PurchaseType::NewIndividualPurchase
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session(v: Value) -> CheckoutSession {
        serde_json::from_value(v).unwrap()
    }

    fn full() -> Value {
        json!({
            "id": "cs_1", "mode": "payment", "payment_status": "paid",
            "metadata": {"country": "IN", "appliedPPPStripeCouponId": "ppp_1", "bulk": "false", "usedCouponId": ""},
            "customer": {"id": "cus_1", "email": " ada@example.com ", "name": "Ada"},
            "line_items": {"data": [{"quantity": 3, "price": {"id": "price_1", "product": {"id": "prod_1"}},
                                     "discounts": [{"discount": {"coupon": {"id": "co_1"}}}]}]},
            "payment_intent": {"id": "pi_1", "latest_charge": {"id": "ch_1", "amount": 12345}},
        })
    }

    #[test]
    fn parses_an_expanded_session() {
        let p = parse(&session(full())).unwrap();
        assert_eq!(
            (p.email.as_str(), p.name.as_deref(), p.customer_identifier.as_str()),
            ("ada@example.com", Some("Ada"), "cus_1")
        );
        assert_eq!(
            (p.product_identifier.as_str(), p.price_identifier.as_deref()),
            ("prod_1", Some("price_1"))
        );
        let s = &p.session;
        assert_eq!(
            (s.stripe_charge_id.as_str(), s.stripe_charge_amount_cents, s.quantity),
            ("ch_1", 12345, 3)
        );
        assert_eq!(s.stripe_coupon_id.as_deref(), Some("co_1"));
        assert_eq!(s.applied_ppp_stripe_coupon_id.as_deref(), Some("ppp_1"));
        assert_eq!(
            (s.country.as_deref(), s.used_coupon_id.as_deref(), s.bulk),
            (Some("IN"), None, false)
        );
    }

    #[test]
    fn accepts_unexpanded_ids_and_customer_details() {
        let mut v = full();
        v["customer"] = json!("cus_2");
        v["customer_details"] = json!({"email": "b@example.com"});
        v["line_items"]["data"][0]["price"]["product"] = json!("prod_2");
        v["line_items"]["data"][0].as_object_mut().unwrap().remove("quantity");
        let p = parse(&session(v)).unwrap();
        assert_eq!(
            (p.customer_identifier.as_str(), p.email.as_str()),
            ("cus_2", "b@example.com")
        );
        assert_eq!((p.product_identifier.as_str(), p.session.quantity), ("prod_2", 1));
    }

    #[test]
    fn names_what_is_missing() {
        for (path, needle) in [
            ("customer", "no customer"),
            ("line_items", "no line items"),
            ("payment_intent", "no charge"),
        ] {
            let mut v = full();
            v.as_object_mut().unwrap().remove(path);
            let err = parse(&session(v)).unwrap_err();
            assert!(err.contains(needle), "{path}: {err}");
        }
        let mut v = full();
        v["customer"].as_object_mut().unwrap().remove("email");
        assert!(parse(&session(v)).unwrap_err().contains("no customer email"));
        let mut v = full();
        v["payment_intent"]["latest_charge"] = json!("ch_unexpanded");
        assert!(parse(&session(v)).unwrap_err().contains("no charge"));
    }

    #[test]
    fn classifies_like_the_original() {
        use PurchaseType::*;
        assert_eq!(classify(1, false, false, false), NewIndividualPurchase);
        assert_eq!(classify(5, false, false, false), NewBulkCoupon);
        assert_eq!(classify(1, true, false, false), NewBulkCoupon);
        assert_eq!(classify(1, false, false, true), IndividualToBulkUpgrade);
        assert_eq!(classify(2, false, true, true), ExistingBulkCoupon);
    }
}
