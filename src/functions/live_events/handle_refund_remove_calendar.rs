//! `handle-refund-remove-calendar` — a purchase of a live event was refunded: take the buyer off the Google
//! Calendar event (or off every event of an event series).
//!
//! Trigger `stripe/refund-processed` (and the original platform's `commerce/refund-processed`). Reads
//! `data.stripeChargeId`, else `data.merchantChargeId`; neither → non-retriable. Steps (the original's names):
//! 1. "fetch-purchase-by-stripe-charge-id" — none: non-retriable "Purchase not found for charge ID …"; a
//!    purchase without a buyer: non-retriable.
//! 2. "fetch-purchased-product-details" — none: returns `{outcome: "error", reason: "Product not found"}`.
//! 3. Not a `live` product: returns `{outcome: "skipped", reason: "Not a live event"}`.
//! 4. "find-event-resource-id-for-product" — the product's first `event` or `event-series`; none: returns
//!    `{outcome: "skipped", reason: "No event resource"}`.
//! 5. "fetch-user-by-id" — no user or no email: non-retriable "User email not found".
//! 6. "fetch-and-validate-event-resource" — missing or invalid: non-retriable.
//! 7. Event series: for each child `event` with a `calendarId`, step "remove-user-from-event-\<childId>"; returns
//!    `{outcome: "event-series-processed", …, childResults: [{eventId, calendarId, outcome, …}]}` (children
//!    without a calendar id are reported `skipped`). A series without events is `skipped`.
//! 8. Single event: without `calendarId` returns `{outcome: "skipped", reason: "No calendarId"}`; else step
//!    "remove-user-from-google-event" → `{outcome: "success", …, calendarId}`.
//!
//! Removing an attendee GETs the event and PATCHes its `attendees` without every entry of that email (compared
//! case-insensitively; nothing is sent if they are not on it, nor notifications). An event gone from Google
//! counts as success (`removed: false`, `eventFound: false`). A removal step's errors retry like any step; once
//! it fails for good (retries exhausted, or a non-retriable answer) the run records `outcome: "failed"` with the
//! error for that event — as the original does — and, for a series, goes on with the other events.

use crate::functions::live_events::calendar_sync::step_error;
use crate::functions::{Deps, event_triggers};
use crate::integrations::google_calendar::{Attendee, GoogleCalendar};
use crate::platform::commerce::products::{self, ProductWithResources};
use crate::platform::commerce::purchases;
use crate::platform::content::{self, EventResource};
use crate::platform::{json_str, users};
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const ID: &str = "handle-refund-remove-calendar";
pub const EVENT: &str = "stripe/refund-processed";

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Handle Refund: Remove From Calendar", move |ctx| {
        run(deps.clone(), ctx)
    });
    for t in event_triggers(EVENT, None) {
        def = def.trigger(t);
    }
    def.summary("On a refund of a live-event purchase, removes the buyer from the Google Calendar attendees of the event or every event of the series.")
        .services(&["google-calendar"])
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PurchaseRef {
    purchase_id: String,
    user_id: String,
    product_id: String,
}

/// Takes every entry of `email` off the calendar event's attendees (one GET, and a PATCH of `attendees` only if
/// they are on it); what happened, for the step's output.
async fn remove(calendar: &GoogleCalendar, calendar_id: &str, email: &str) -> Result<Value, StepError> {
    let Some(event) = calendar.get_event(calendar_id).await? else {
        return Ok(json!({"eventFound": false, "removed": false}));
    };
    if !event.has_attendee(email) {
        return Ok(json!({"eventFound": true, "removed": false}));
    }
    let rest: Vec<&Attendee> = event
        .attendees
        .iter()
        .filter(|a| !a.email.trim().eq_ignore_ascii_case(email.trim()))
        .collect();
    let after = calendar.patch_event(calendar_id, json!({ "attendees": rest })).await?;
    Ok(json!({"eventFound": after.is_some(), "removed": after.is_some()}))
}

/// A removal step's result: its output, or the failure once it failed for good. Interruptions (a retry later,
/// a shutdown, a lost lease) still end this execution of the run.
fn settle(r: Result<Value, FnError>) -> Result<Result<Value, String>, FnError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(FnError::StepFailed { message, .. }) => Ok(Err(message)),
        Err(e) => Err(e),
    }
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let data = ctx.event.get("data").cloned().unwrap_or_else(|| json!({}));
    let charge = json_str(&data, "stripeChargeId")
        .filter(|s| !s.is_empty())
        .or_else(|| json_str(&data, "merchantChargeId").filter(|s| !s.is_empty()))
        .map(str::to_string)
        .ok_or_else(|| FnError::NonRetriable("The event has no stripeChargeId or merchantChargeId".into()))?;
    let db = &deps.db;
    let calendar = &deps.integrations.google_calendar;

    let purchase: PurchaseRef = ctx
        .step
        .run("fetch-purchase-by-stripe-charge-id", || async {
            let found = purchases::get_purchase_for_stripe_charge(db, &charge)
                .await
                .map_err(step_error)?
                .ok_or_else(|| StepError::fatal(format!("Purchase not found for charge ID {charge}")))?;
            let p = found.purchase;
            let user_id = p
                .user_id
                .filter(|u| !u.is_empty())
                .ok_or_else(|| StepError::fatal(format!("Purchase {} has no user", p.id)))?;
            Ok(PurchaseRef {
                purchase_id: p.id,
                user_id,
                product_id: p.product_id,
            })
        })
        .await?;
    let base =
        json!({"purchaseId": purchase.purchase_id, "userId": purchase.user_id, "productId": purchase.product_id});
    let with = |extra: Value| {
        let mut out = base.clone();
        if let (Some(o), Some(x)) = (out.as_object_mut(), extra.as_object()) {
            o.extend(x.clone());
        }
        out
    };

    let product: Option<ProductWithResources> = ctx
        .step
        .run("fetch-purchased-product-details", || async {
            products::get_product(db, &purchase.product_id)
                .await
                .map_err(step_error)
        })
        .await?;
    let Some(product) = product else {
        return Ok(with(json!({"outcome": "error", "reason": "Product not found"})));
    };
    if product.product.kind != "live" {
        return Ok(with(json!({"outcome": "skipped", "reason": "Not a live event"})));
    }

    let event_resource_id: Option<String> = ctx
        .step
        .run("find-event-resource-id-for-product", || async {
            Ok(product
                .resources
                .iter()
                .find(|r| r.resource.kind == "event" || r.resource.kind == "event-series")
                .map(|r| r.resource.id.clone()))
        })
        .await?;
    let Some(event_resource_id) = event_resource_id else {
        return Ok(with(json!({"outcome": "skipped", "reason": "No event resource"})));
    };

    let email: String = ctx
        .step
        .run("fetch-user-by-id", || async {
            users::get_user(db, &purchase.user_id)
                .await
                .map_err(step_error)?
                .map(|u| u.email)
                .filter(|e| !e.trim().is_empty())
                .ok_or_else(|| StepError::fatal(format!("User email not found for user {}", purchase.user_id)))
        })
        .await?;
    let with = |extra: Value| {
        with(json!({"email": email, "eventResourceId": event_resource_id}))
            .as_object()
            .cloned()
            .map(|mut o| {
                if let Some(x) = extra.as_object() {
                    o.extend(x.clone());
                }
                Value::Object(o)
            })
            .unwrap_or(Value::Null)
    };

    let event: EventResource = ctx
        .step
        .run("fetch-and-validate-event-resource", || async {
            content::get_event_or_event_series(db, &event_resource_id)
                .await
                .map_err(step_error)?
                .ok_or_else(|| StepError::fatal(format!("Event resource not found: {event_resource_id}")))
        })
        .await?;

    if event.is_series() {
        let events: Vec<_> = event
            .children
            .iter()
            .filter(|c| c.resource.kind == "event")
            .map(|c| &c.resource)
            .collect();
        if events.is_empty() {
            return Ok(with(
                json!({"outcome": "skipped", "reason": "No events in the event series"}),
            ));
        }
        let mut child_results = Vec::new();
        for child in events {
            let Some(calendar_id) = json_str(&child.fields, "calendarId").filter(|s| !s.trim().is_empty()) else {
                child_results.push(json!({"eventId": child.id, "outcome": "skipped", "reason": "No calendarId"}));
                continue;
            };
            let step = format!("remove-user-from-event-{}", child.id);
            let r = ctx
                .step
                .run(&step, || async { remove(calendar, calendar_id, &email).await })
                .await;
            child_results.push(match settle(r)? {
                Ok(v) => json!({"eventId": child.id, "calendarId": calendar_id, "outcome": "success",
                    "eventFound": v["eventFound"], "removed": v["removed"]}),
                Err(error) => {
                    json!({"eventId": child.id, "calendarId": calendar_id, "outcome": "failed", "error": error})
                }
            });
        }
        return Ok(with(
            json!({"outcome": "event-series-processed", "childResults": child_results}),
        ));
    }

    let Some(calendar_id) = json_str(&event.resource.fields, "calendarId")
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
    else {
        return Ok(with(json!({"outcome": "skipped", "reason": "No calendarId"})));
    };
    let r = ctx
        .step
        .run("remove-user-from-google-event", || async {
            remove(calendar, &calendar_id, &email).await
        })
        .await;
    Ok(match settle(r)? {
        Ok(v) => with(json!({"outcome": "success", "calendarId": calendar_id,
            "eventFound": v["eventFound"], "removed": v["removed"]})),
        Err(error) => with(json!({"outcome": "failed", "calendarId": calendar_id, "error": error})),
    })
}
