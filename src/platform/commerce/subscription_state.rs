//! A subscription kept in step with Stripe: status and billing period from `customer.subscription.*` events
//! (never moved back by an older delivery), paid invoices recorded once, and who the subscriber is.

use super::subscriptions::{COLUMNS, Subscription};
use crate::platform::{Error, Result, new_id, now};
use crate::store::Db;
use crate::store::schema::{
    merchant_customers as mcu, merchant_invoices as inv, merchant_subscriptions as msub, subscriptions as sub,
};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

/// Stripe's subscription statuses, as far as access goes.
pub struct SubscriptionStatus;

impl SubscriptionStatus {
    /// Statuses that grant the subscriber's access and role (`past_due`: Stripe is still retrying the payment).
    pub const GRANTING: [&'static str; 3] = ["active", "trialing", "past_due"];
    /// Terminal statuses: Stripe never revives a subscription from these.
    pub const ENDED: [&'static str; 2] = ["canceled", "incomplete_expired"];

    pub fn grants_access(status: &str) -> bool {
        Self::GRANTING.contains(&status)
    }

    pub fn is_ended(status: &str) -> bool {
        Self::ENDED.contains(&status)
    }
}

/// What Stripe says about a subscription at a moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StripeState {
    pub status: String,
    pub current_period_start: Option<NaiveDateTime>,
    pub current_period_end: Option<NaiveDateTime>,
    /// The Stripe event's `created` (seconds); `None` for a state read from the API.
    pub changed_at: Option<i64>,
}

impl StripeState {
    pub fn active() -> StripeState {
        StripeState {
            status: "active".into(),
            current_period_start: None,
            current_period_end: None,
            changed_at: None,
        }
    }
}

/// What [`apply_stripe_state`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub subscription: Subscription,
    /// False when the state was older than what is stored, or the subscription had already ended.
    pub applied: bool,
    /// True when this change ended the subscription (it was not ended before).
    pub ended_now: bool,
    pub previous_status: String,
}

/// Our subscription for a Stripe subscription id.
pub async fn get_subscription_by_stripe_id(db: &Db, stripe_subscription_id: &str) -> Result<Option<Subscription>> {
    Ok(crate::with_conn!(db, read, |c| {
        sub::table
            .inner_join(msub::table.on(msub::id.eq(sub::merchant_subscription_id)))
            .filter(msub::identifier.eq(stripe_subscription_id))
            .select(COLUMNS)
            .first(c)
            .await
            .optional()?
    }))
}

/// The user who pays for a subscription (its merchant customer's user).
pub async fn subscriber_user_id(db: &Db, subscription_id: &str) -> Result<Option<String>> {
    Ok(crate::with_conn!(db, read, |c| {
        sub::table
            .inner_join(msub::table.on(msub::id.eq(sub::merchant_subscription_id)))
            .inner_join(mcu::table.on(mcu::id.eq(msub::merchant_customer_id)))
            .filter(sub::id.eq(subscription_id))
            .select(mcu::user_id)
            .first(c)
            .await
            .optional()?
    }))
}

/// Applies Stripe's state to a subscription, in one write transaction, unless it would move the subscription back:
/// an ended subscription stays ended, and a state from an event older than the last applied one
/// (`stripe_changed_at`) is ignored (an equal time applies: Stripe's later delivery of the same second wins). The
/// period only ever moves forward. Ending sets `ended_at` once.
pub async fn apply_stripe_state(db: &Db, subscription_id: &str, state: &StripeState) -> Result<Applied> {
    let t = now();
    let id = subscription_id.to_string();
    Ok(crate::with_conn!(db, write, |c| {
        crate::write_tx!(c, Error, async |tx| {
            let cur: Subscription = sub::table
                .filter(sub::id.eq(&id))
                .select(COLUMNS)
                .first(tx)
                .await
                .optional()?
                .ok_or_else(|| Error::not_found("subscription", &id))?;
            let older = matches!((state.changed_at, cur.stripe_changed_at), (Some(new), Some(old)) if new < old);
            if SubscriptionStatus::is_ended(&cur.status) || older {
                return Ok(Applied {
                    previous_status: cur.status.clone(),
                    subscription: cur,
                    applied: false,
                    ended_now: false,
                });
            }
            let start = later(cur.current_period_start, state.current_period_start);
            let end = later(cur.current_period_end, state.current_period_end);
            let ended_now = SubscriptionStatus::is_ended(&state.status);
            diesel::update(sub::table.filter(sub::id.eq(&id)))
                .set((
                    sub::status.eq(&state.status),
                    sub::current_period_start.eq(start),
                    sub::current_period_end.eq(end),
                    sub::ended_at.eq(if ended_now { Some(t) } else { cur.ended_at }),
                    sub::stripe_changed_at.eq(state.changed_at.or(cur.stripe_changed_at)),
                ))
                .execute(tx)
                .await?;
            let updated: Subscription = sub::table.filter(sub::id.eq(&id)).select(COLUMNS).first(tx).await?;
            Ok(Applied {
                previous_status: cur.status,
                subscription: updated,
                applied: true,
                ended_now,
            })
        })
        .await?
    }))
}

fn later(a: Option<NaiveDateTime>, b: Option<NaiveDateTime>) -> Option<NaiveDateTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Moves a subscription's billing period forward to a paid one (never back). Returns the subscription.
pub async fn extend_period(
    db: &Db,
    subscription_id: &str,
    start: Option<NaiveDateTime>,
    end: Option<NaiveDateTime>,
) -> Result<Subscription> {
    let id = subscription_id.to_string();
    Ok(crate::with_conn!(db, write, |c| {
        crate::write_tx!(c, Error, async |tx| {
            let cur: Subscription = sub::table
                .filter(sub::id.eq(&id))
                .select(COLUMNS)
                .first(tx)
                .await
                .optional()?
                .ok_or_else(|| Error::not_found("subscription", &id))?;
            if end.is_some() && later(cur.current_period_end, end) != cur.current_period_end {
                diesel::update(sub::table.filter(sub::id.eq(&id)))
                    .set((sub::current_period_start.eq(start), sub::current_period_end.eq(end)))
                    .execute(tx)
                    .await?;
            }
            Ok(sub::table.filter(sub::id.eq(&id)).select(COLUMNS).first(tx).await?)
        })
        .await?
    }))
}

/// A paid Stripe invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    pub id: String,
    pub merchant_account_id: String,
    /// The Stripe invoice id (`in_...`).
    pub identifier: String,
    pub subscription_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub stripe_customer_id: Option<String>,
    pub amount_paid_cents: i64,
    pub currency: Option<String>,
    pub billing_reason: Option<String>,
    pub period_start: Option<NaiveDateTime>,
    pub period_end: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// Records a paid invoice once by its Stripe id. Returns the stored invoice and whether it was new.
pub async fn record_invoice(db: &Db, n: &Invoice) -> Result<(Invoice, bool)> {
    let inserted = crate::with_conn!(db, write, |c| {
        diesel::insert_into(inv::table)
            .values((
                inv::id.eq(new_id("inv")),
                inv::merchant_account_id.eq(&n.merchant_account_id),
                inv::identifier.eq(&n.identifier),
                inv::subscription_id.eq(&n.subscription_id),
                inv::stripe_subscription_id.eq(&n.stripe_subscription_id),
                inv::stripe_customer_id.eq(&n.stripe_customer_id),
                inv::amount_paid_cents.eq(n.amount_paid_cents),
                inv::currency.eq(&n.currency),
                inv::billing_reason.eq(&n.billing_reason),
                inv::period_start.eq(n.period_start),
                inv::period_end.eq(n.period_end),
                inv::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    let stored: Invoice = crate::with_conn!(db, read, |c| {
        inv::table
            .filter(inv::identifier.eq(&n.identifier))
            .select(inv::all_columns)
            .first(c)
            .await?
    });
    Ok((stored, inserted == 1))
}
