//! The platform data layer (`ingot::platform`) on both backends: every query's happy path, missing rows, the
//! idempotency of the writers (run twice, same result) and the recursive entitlement creation. Fixtures come
//! from `ingot::seed` (the demo catalogue and its builders).

mod checkout;
mod commerce;
mod communication;
mod content;
mod credits;
mod entitlements;
mod organizations;
mod seed;
mod users;

use crate::support::TestDb;

/// Rows in a table.
pub async fn rows(db: &TestDb, table: &str) -> i64 {
    db.count(&format!("SELECT COUNT(*) AS n FROM {table}"), &[]).await
}

/// The tables of the platform data model (migrations 000002 and 000004).
pub const PLATFORM_TABLES: [&str; 34] = [
    "users",
    "roles",
    "user_roles",
    "communication_channels",
    "communication_preference_types",
    "communication_preferences",
    "accounts",
    "verification_tokens",
    "organizations",
    "organization_memberships",
    "organization_membership_roles",
    "products",
    "prices",
    "merchant_accounts",
    "merchant_customers",
    "merchant_products",
    "merchant_prices",
    "merchant_coupons",
    "merchant_subscriptions",
    "merchant_charges",
    "merchant_sessions",
    "merchant_events",
    "subscriptions",
    "coupons",
    "purchases",
    "purchase_user_transfers",
    "entitlement_types",
    "entitlements",
    "content_resources",
    "content_resource_resources",
    "content_resource_products",
    "shortlinks",
    "shortlink_clicks",
    "shortlink_attributions",
];

/// Row counts of every platform table.
pub async fn snapshot(db: &TestDb) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for t in PLATFORM_TABLES {
        out.push((t.to_string(), rows(db, t).await));
    }
    out
}
