//! `send-live-event-welcome-email` — the buyer of a live event gets its date and times (reference §3.2).
//!
//! Trigger `purchase/created` (and `commerce/new-purchase-created`) when `event.data.productType` is `live`.
//! Decision: the original had no `if` and skipped non-live products after loading them; the condition spares a
//! run per other purchase, and the product's type is still checked (step 3). Idempotency
//! `event.data.checkoutSessionId`, as the original. Steps:
//! 1. "Load Purchase" — missing, or without a buyer: non-retriable "Purchase not found".
//! 2. "Load Bulk Coupon" — a team purchase only: seats = the coupon's `maxUses` (1 when unset or unlimited).
//! 3. "Load Product" — missing: non-retriable. Not `live`: returns `{skipped: true, reason: "Product is not a
//!    live event"}`.
//! 4. "Load User" — missing: non-retriable.
//! 5. "Load Event" — the product's first `event` / `event-series`; none: non-retriable "Content Resource Product
//!    not found"; gone: non-retriable "Event not found".
//! 6. The dates: a single event's own, a series' first event's. No event in the series: `{skipped, "No event
//!    found"}`; no `startsAt` / `endsAt`: `{skipped, "No event dates available"}`.
//! 7. "send welcome email" — `live_event_welcome` (individual: no seat count, decision "welcome emails to an
//!    individual buyer state quantity 1") or `live_event_welcome_team` (the seats and the invite link
//!    `<NEXT_PUBLIC_URL>/?code=<bulk coupon>`), subject "You're in! Get Ready for \<product>! 🎉", Reply-To
//!    `NEXT_PUBLIC_SUPPORT_EMAIL`. The date is `MMMM do, yyyy` and the times `h:mm a`, in America/Los_Angeles
//!    whatever the event's own time zone (as the original).
//!
//! The email's Message-ID is fixed by the run and step, so a crash between the SMTP server's acceptance and the
//! step's record sends a copy mail systems treat as the same message. SMTP 4xx and connection failures retry;
//! 5xx (a refused recipient) fail the run. Returns `{to, template, messageId, response, dryRun, startDate,
//! startTime, endTime, quantity}`.

use crate::email::Template;
use crate::functions::outputs::PurchaseOutput;
use crate::functions::purchases::post_purchase_workflow::welcome::format_day;
use crate::functions::purchases::purchase_fanout::{
    LIVE, PURCHASE_CREATED, data_str, db_err, event_resource_of, first_name, load_purchase,
};
use crate::functions::{Deps, event_triggers};
use crate::platform::commerce::coupons::{self, Coupon};
use crate::platform::commerce::products::{ProductWithResources, get_product};
use crate::platform::content::{self, EventResource};
use crate::platform::json_str;
use crate::platform::users::{User, get_user};
use crate::store::tx_step;
use chrono::{DateTime, Utc};
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde_json::{Value, json};

pub const ID: &str = "send-live-event-welcome-email";

pub fn definition(deps: Deps) -> FunctionDef {
    event_triggers(PURCHASE_CREATED, Some(LIVE))
        .into_iter()
        .fold(
            FunctionDef::new(ID, "Send Live Event Welcome Email", move |ctx| {
                run(deps.clone(), ctx)
            }),
            FunctionDef::trigger,
        )
        .idempotency("event.data.checkoutSessionId")
        .summary("After a live-event purchase: emails the buyer the event's date and times in Los Angeles time (a team buyer also gets the seat count and invite link).")
        .services(&["email"])
}

/// `h:mm a` in America/Los_Angeles, e.g. `9:00 AM`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::America::Los_Angeles)
        .format("%-I:%M %p")
        .to_string()
}

fn parse_time(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    json_str(v, key)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let icfg = &deps.config.integrations;
    let purchase_id = data_str(&ctx.event, "purchaseId")
        .ok_or_else(|| FnError::NonRetriable("The event has no purchaseId".into()))?;

    let id = purchase_id.clone();
    let purchase: PurchaseOutput = tx_step::read(&ctx.step, "Load Purchase", move |tx| {
        let purchase_id = id.clone();
        Box::pin(async move {
            let p = load_purchase(tx, &purchase_id).await?;
            if p.user_id.as_deref().is_none_or(str::is_empty) {
                return Err(StepError::fatal(format!(
                    "Purchase not found: {purchase_id:?} has no user"
                )));
            }
            Ok(p)
        })
    })
    .await?;
    let seats = match &purchase.bulk_coupon_id {
        Some(coupon_id) => {
            let coupon: Option<Coupon> = ctx
                .step
                .run("Load Bulk Coupon", || async {
                    coupons::get_coupon(db, coupon_id).await.map_err(db_err)
                })
                .await?;
            let seats = coupon.map(|c| c.max_uses).filter(|n| *n > 0);
            if seats.is_none() {
                tracing::warn!(coupon = %coupon_id, "bulk coupon without a seat count: the email says 1");
            }
            Some(seats.unwrap_or(1))
        }
        None => None,
    };
    let product: ProductWithResources = ctx
        .step
        .run("Load Product", || async {
            get_product(db, &purchase.product_id)
                .await
                .map_err(db_err)?
                .ok_or_else(|| StepError::fatal(format!("Product not found: {:?}", purchase.product_id)))
        })
        .await?;
    if product.product.kind != "live" {
        return Ok(json!({"skipped": true, "reason": "Product is not a live event"}));
    }
    let user: User = ctx
        .step
        .run("Load User", || async {
            let id = purchase.user_id.as_deref().unwrap_or_default();
            get_user(db, id)
                .await
                .map_err(db_err)?
                .ok_or_else(|| StepError::fatal(format!("User not found: {id:?}")))
        })
        .await?;
    let event: EventResource = ctx
        .step
        .run("Load Event", || async {
            let resource = event_resource_of(&product).ok_or_else(|| {
                StepError::fatal(format!(
                    "Content Resource Product not found for product {}",
                    product.product.id
                ))
            })?;
            content::get_event_or_event_series(db, &resource.id)
                .await
                .map_err(db_err)?
                .ok_or_else(|| StepError::fatal(format!("Event not found: {}", resource.id)))
        })
        .await?;

    let fields = if event.is_series() {
        event
            .children
            .iter()
            .find(|c| c.resource.kind == "event")
            .map(|c| &c.resource.fields)
    } else {
        Some(&event.resource.fields)
    };
    let Some(fields) = fields else {
        return Ok(json!({"skipped": true, "reason": "No event found"}));
    };
    let (Some(starts), Some(ends)) = (parse_time(fields, "startsAt"), parse_time(fields, "endsAt")) else {
        return Ok(json!({"skipped": true, "reason": "No event dates available"}));
    };

    let site = icfg.public_url.as_deref().unwrap_or("");
    let mut vars = json!({
        "product_name": event.resource.title().unwrap_or(&product.product.name),
        "start_date": format_day(starts),
        "start_time": format_time(starts),
        "end_time": format_time(ends),
        "user_first_name": first_name(user.name.as_deref()),
        "support_email": icfg.support_email,
        "quantity": seats.unwrap_or(1),
        "site_title": deps.config.site_title,
    });
    let template = match (&purchase.bulk_coupon_id, seats) {
        (Some(coupon_id), Some(_)) => {
            vars["invite_url"] = json!(format!("{site}/?code={coupon_id}"));
            Template::LiveEventWelcomeTeam
        }
        _ => Template::LiveEventWelcome,
    };
    let step = "send welcome email";
    let key = format!("{}/{step}", ctx.run_id);
    let sent: Value = ctx
        .step
        .run(step, || async {
            let sent = deps
                .integrations
                .email
                .send_template_keyed(&key, &user.email, template, &vars, icfg.support_email.as_deref())
                .await?;
            Ok(json!({
                "to": user.email,
                "template": template.name(),
                "messageId": crate::email::message_id_for(&key),
                "response": sent.response,
                "dryRun": sent.dry_run,
            }))
        })
        .await?;
    let mut out = sent;
    out["startDate"] = vars["start_date"].clone();
    out["startTime"] = vars["start_time"].clone();
    out["endTime"] = vars["end_time"].clone();
    out["quantity"] = vars["quantity"].clone();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_are_los_angeles_wall_clock() {
        // 18:00 UTC in December is 10:00 in Los Angeles (PST); in July (PDT) 11:00.
        assert_eq!(
            format_time(Utc.with_ymd_and_hms(2026, 12, 3, 18, 0, 0).unwrap()),
            "10:00 AM"
        );
        assert_eq!(
            format_time(Utc.with_ymd_and_hms(2027, 7, 1, 18, 5, 0).unwrap()),
            "11:05 AM"
        );
        assert_eq!(
            format_time(Utc.with_ymd_and_hms(2026, 12, 4, 1, 30, 0).unwrap()),
            "5:30 PM"
        );
        // Just after midnight UTC is still the day before in Los Angeles.
        assert_eq!(
            format_day(Utc.with_ymd_and_hms(2026, 12, 4, 1, 30, 0).unwrap()),
            "December 3rd, 2026"
        );
    }
}
