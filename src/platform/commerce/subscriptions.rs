//! Subscriptions: the Stripe subscription mirrored as a merchant subscription plus our subscription of an
//! organization to a product (reference §3.4).

use crate::platform::{Error, Result, new_id, now};
use crate::store::Db;
use crate::store::schema::{
    merchant_sessions as ms, merchant_subscriptions as msub, organization_memberships as om, subscriptions as sub,
};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

pub use super::subscription_state::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub organization_id: Option<String>,
    pub product_id: String,
    pub merchant_subscription_id: String,
    /// Stripe's status: `active`, `trialing`, `past_due`, `canceled`, ...
    pub status: String,
    pub created_at: NaiveDateTime,
    pub current_period_start: Option<NaiveDateTime>,
    pub current_period_end: Option<NaiveDateTime>,
    /// When Stripe ended it (status `canceled` or `incomplete_expired`).
    pub ended_at: Option<NaiveDateTime>,
    /// Stripe's `created` (seconds) of the last event applied to it.
    pub stripe_changed_at: Option<i64>,
}

/// A Stripe subscription to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSubscription {
    pub merchant_account_id: String,
    pub merchant_customer_id: String,
    pub merchant_product_id: String,
    pub product_id: String,
    pub organization_id: Option<String>,
    /// The Stripe subscription id (`sub_...`).
    pub stripe_subscription_id: String,
}

type Columns = (
    sub::id,
    sub::organization_id,
    sub::product_id,
    sub::merchant_subscription_id,
    sub::status,
    sub::created_at,
    sub::current_period_start,
    sub::current_period_end,
    sub::ended_at,
    sub::stripe_changed_at,
);
pub(crate) const COLUMNS: Columns = (
    sub::id,
    sub::organization_id,
    sub::product_id,
    sub::merchant_subscription_id,
    sub::status,
    sub::created_at,
    sub::current_period_start,
    sub::current_period_end,
    sub::ended_at,
    sub::stripe_changed_at,
);

/// Stores a checkout session once by its Stripe id; returns our id for it.
pub async fn store_merchant_session(
    db: &Db,
    merchant_account_id: &str,
    checkout_session_id: &str,
    organization_id: Option<&str>,
) -> Result<String> {
    Ok(crate::with_conn!(db, write, |c| {
        diesel::insert_into(ms::table)
            .values((
                ms::id.eq(new_id("ms")),
                ms::identifier.eq(checkout_session_id),
                ms::merchant_account_id.eq(merchant_account_id),
                ms::organization_id.eq(organization_id),
                ms::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?;
        ms::table
            .filter(ms::identifier.eq(checkout_session_id))
            .select(ms::id)
            .first::<String>(c)
            .await?
    }))
}

/// Records a Stripe subscription (merchant subscription + subscription, status `active`) in one transaction, once
/// per Stripe subscription id. Returns the subscription and whether it was created now.
pub async fn create_subscription(db: &Db, n: &NewSubscription) -> Result<(Subscription, bool)> {
    create_subscription_with_state(db, n, &StripeState::active()).await
}

/// [`create_subscription`] with Stripe's status and period (as the checkout retrieved them). An existing
/// subscription is returned unchanged.
pub async fn create_subscription_with_state(
    db: &Db,
    n: &NewSubscription,
    state: &StripeState,
) -> Result<(Subscription, bool)> {
    if n.stripe_subscription_id.is_empty() {
        return Err(Error::Invalid("a subscription needs its Stripe id".into()));
    }
    let t = now();
    let (id, created): (String, bool) = crate::with_conn!(db, write, |c| {
        crate::write_tx!(c, Error, async |tx| {
            let inserted = diesel::insert_into(msub::table)
                .values((
                    msub::id.eq(new_id("msub")),
                    msub::merchant_account_id.eq(&n.merchant_account_id),
                    msub::merchant_customer_id.eq(&n.merchant_customer_id),
                    msub::merchant_product_id.eq(&n.merchant_product_id),
                    msub::identifier.eq(&n.stripe_subscription_id),
                    msub::organization_id.eq(&n.organization_id),
                    msub::created_at.eq(t),
                ))
                .on_conflict_do_nothing()
                .execute(tx)
                .await?;
            let msub_id: String = msub::table
                .filter(msub::identifier.eq(&n.stripe_subscription_id))
                .select(msub::id)
                .first(tx)
                .await?;
            diesel::insert_into(sub::table)
                .values((
                    sub::id.eq(new_id("sub")),
                    sub::merchant_subscription_id.eq(&msub_id),
                    sub::organization_id.eq(&n.organization_id),
                    sub::product_id.eq(&n.product_id),
                    sub::status.eq(&state.status),
                    sub::current_period_start.eq(state.current_period_start),
                    sub::current_period_end.eq(state.current_period_end),
                    sub::ended_at.eq(SubscriptionStatus::is_ended(&state.status).then_some(t)),
                    sub::stripe_changed_at.eq(state.changed_at),
                    sub::created_at.eq(t),
                ))
                .on_conflict_do_nothing()
                .execute(tx)
                .await?;
            let id: String = sub::table
                .filter(sub::merchant_subscription_id.eq(&msub_id))
                .select(sub::id)
                .first(tx)
                .await?;
            Ok((id, inserted == 1))
        })
        .await?
    });
    let s = crate::with_conn!(db, read, |c| {
        sub::table
            .filter(sub::id.eq(&id))
            .select(COLUMNS)
            .first::<Subscription>(c)
            .await?
    });
    Ok((s, created))
}

/// Whether any organization the user belongs to has a subscription that grants access (active, trialing or
/// past due: see [`SubscriptionStatus::grants_access`]).
pub async fn has_active_subscription(db: &Db, user_id: &str) -> Result<bool> {
    let n: i64 = crate::with_conn!(db, read, |c| {
        sub::table
            .filter(sub::status.eq_any(SubscriptionStatus::GRANTING))
            .filter(
                sub::organization_id.eq_any(
                    om::table
                        .filter(om::user_id.eq(user_id))
                        .select(om::organization_id.nullable()),
                ),
            )
            .count()
            .get_result(c)
            .await?
    });
    Ok(n > 0)
}
