//! Step outputs: what a run remembers of platform data from one step to the next. A run started by one release
//! may be replayed by the next (an upgrade while it sleeps, waits or retries), so these are serde types of their
//! own, separate from the Diesel rows in `src/platform/` — a column added, renamed or retyped in a row does not
//! change what a stored output means.
//!
//! Versioning (ARCHITECTURE.md "Decisions"): each type names the shape version it reads. Version 1 is the shape
//! the rows themselves had when they were stored as outputs (up to commit 9a46047), so runs stored before this
//! type existed replay unchanged; `tests/it/fixtures/step_outputs/v1/` holds that stored JSON and the unit tests
//! below read it. A new field must be `#[serde(default)]` (an older output lacks it); a field is never renamed
//! without a `#[serde(alias)]` for its stored name; unknown fields are ignored (an output stored by a later
//! release still reads). A change that cannot follow these rules is a new version: a new type and an
//! `#[serde(untagged)]` enum of both, newest first, with `From<old>`, and a new fixture directory.

use crate::platform::commerce::PurchaseStatus;
use crate::platform::commerce::purchases::Purchase;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A purchase as a step output, shape version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseOutput {
    pub id: String,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub organization_membership_id: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    pub product_id: String,
    #[serde(default)]
    pub total_amount_cents: i64,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub coupon_id: Option<String>,
    #[serde(default)]
    pub merchant_charge_id: Option<String>,
    #[serde(default)]
    pub merchant_session_id: Option<String>,
    #[serde(default)]
    pub upgraded_from_id: Option<String>,
    pub status: PurchaseStatus,
    #[serde(default)]
    pub bulk_coupon_id: Option<String>,
    #[serde(default)]
    pub redeemed_bulk_coupon_id: Option<String>,
    #[serde(default)]
    pub fields: Value,
    pub created_at: NaiveDateTime,
}

impl From<Purchase> for PurchaseOutput {
    fn from(p: Purchase) -> PurchaseOutput {
        PurchaseOutput {
            id: p.id,
            user_id: p.user_id,
            organization_membership_id: p.organization_membership_id,
            organization_id: p.organization_id,
            product_id: p.product_id,
            total_amount_cents: p.total_amount_cents,
            country: p.country,
            coupon_id: p.coupon_id,
            merchant_charge_id: p.merchant_charge_id,
            merchant_session_id: p.merchant_session_id,
            upgraded_from_id: p.upgraded_from_id,
            status: p.status,
            bulk_coupon_id: p.bulk_coupon_id,
            redeemed_bulk_coupon_id: p.redeemed_bulk_coupon_id,
            fields: p.fields,
            created_at: p.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the release at 9a46047 stored for a purchase step (tests/it/fixtures/step_outputs/README.md).
    const V1_PURCHASE_FULL: &str = include_str!("../../tests/it/fixtures/step_outputs/v1/purchase_full.json");
    const V1_PURCHASE_MINIMAL: &str = include_str!("../../tests/it/fixtures/step_outputs/v1/purchase_minimal.json");

    fn replay<T: serde::de::DeserializeOwned>(stored: &str) -> T {
        // The engine's replay: the stored `serde_json::Value`, then the step's type.
        let value: Value = serde_json::from_str(stored).unwrap();
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn purchases_stored_by_v1_replay() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 30)
            .unwrap()
            .and_hms_milli_opt(14, 5, 9, 123)
            .unwrap();
        let full: PurchaseOutput = replay(V1_PURCHASE_FULL);
        assert_eq!(full.id, "purchase_team_1");
        assert_eq!(full.user_id.as_deref(), Some("user_buyer"));
        assert_eq!(full.organization_membership_id.as_deref(), Some("om_1"));
        assert_eq!(full.total_amount_cents, 49_900);
        assert_eq!(full.status, PurchaseStatus::Valid);
        assert_eq!(full.bulk_coupon_id.as_deref(), Some("coupon_bulk"));
        assert_eq!(full.fields["stripeCheckoutSessionId"], "cs_test_1");
        assert_eq!(full.created_at, at);
        let minimal: PurchaseOutput = replay(V1_PURCHASE_MINIMAL);
        assert_eq!(minimal.user_id, None);
        assert_eq!(minimal.status, PurchaseStatus::Refunded);
        assert_eq!(minimal.redeemed_bulk_coupon_id.as_deref(), Some("coupon_bulk"));
        // And v1 is still what is written, so a release rolled back reads what this one stored.
        for stored in [V1_PURCHASE_FULL, V1_PURCHASE_MINIMAL] {
            let value: Value = serde_json::from_str(stored).unwrap();
            assert_eq!(serde_json::to_value(replay::<PurchaseOutput>(stored)).unwrap(), value);
        }
    }

    /// The rules of the module doc: a field the output gained later is absent from an old output, and a field
    /// a later release added is ignored.
    #[test]
    fn optional_fields_may_be_missing_and_unknown_ones_are_ignored() {
        let p: PurchaseOutput = replay(
            &json!({"id": "p1", "productId": "prod", "status": "Valid", "createdAt": "2026-11-30T14:05:09",
                    "someColumnAddedLater": {"x": 1}})
            .to_string(),
        );
        assert_eq!(p.id, "p1");
        assert_eq!(p.user_id, None);
        assert_eq!(p.total_amount_cents, 0);
        assert_eq!(p.fields, Value::Null);
    }
}
