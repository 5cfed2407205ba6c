//! `post-event-purchase` — a live event was bought (or a seat of one redeemed): put the buyer on the Google
//! Calendar event, or on every event of an event series, and into the purchase's organization (reference §3.2
//! `post-event-purchase-calendar-sync`).
//!
//! Triggers: `purchase/created` and `coupon/full-price-redeemed` (and the originals
//! `commerce/new-purchase-created`, `commerce/full-price-coupon-redeemed`), each only when `event.data.productType`
//! is `live` — the complement of `post-purchase-workflow`'s `cohort || self-paced`. Idempotency
//! `event.data.purchaseId`. Steps:
//! 1. "get purchase", "get product", "get user" — a missing row (or a purchase without a buyer) fails the run
//!    non-retriably, as in `post-purchase-workflow`.
//! 2. The product's first `event` / `event-series` (by position). None: returns with `outcome: "skipped"`,
//!    reason "No event resource".
//! 3. "get event resource" — the event or series with its ordered children. Gone (or not an event): `skipped`,
//!    "Event resource not found"; an event without a title is invalid data: non-retriable.
//! 4. A team purchase (bulk coupon): nothing — seats get their invitation when redeemed (`isTeamPurchase`).
//! 5. Status other than Valid / Restricted: nothing (`skipped`, "Purchase is \<status>").
//! 6. "get org membership" — only when the purchase has an organization: membership (invited by the buyer) with
//!    the `learner` role; otherwise `null`, as in the original (no personal organization is made here).
//! 7. A series: per child `event` with a `calendarId`, step "add user to calendar event (\<child title>)" (a
//!    repeated title gets the engine's `:n` suffix); children without one are reported `skipped`. A single event
//!    with a `calendarId`: step "add user to calendar event"; without one: `skipped`, "No calendarId".
//!
//! Adding is [`GoogleCalendar::ensure_attendee`]: one GET, and a PATCH of `attendees` (no notifications) only if
//! the buyer is missing or the list repeats an email — the list never holds an email twice (the original appended
//! without checking, reference §9.14). An event gone from Google is reported (`eventFound: false`), not retried.
//! Google's 429 (honouring `Retry-After`), 5xx and timeouts retry the step; other 4xx fail the run. A crash
//! between Google's PATCH and the step's record re-runs the step, whose GET then finds the buyer: no second
//! PATCH.
//!
//! Returns `{outcome, purchase, product, user, eventResource, isTeamPurchase, orgMembership, gCalEvent}` where
//! `gCalEvent` is `{eventId, calendarId, eventFound, added, duplicatesRemoved}` for a single event, the list of
//! them for a series, or `null`.

use crate::functions::outputs::PurchaseOutput;
use crate::functions::purchases::purchase_fanout::{
    FULL_PRICE_REDEEMED, LIVE, PURCHASE_CREATED, data_str, db_err, event_resource_of, load_buyer, load_product,
    load_purchase,
};
use crate::functions::{Deps, event_triggers};
use crate::integrations::google_calendar::GoogleCalendar;
use crate::platform::commerce::products::ProductWithResources;
use crate::platform::content::{self, ContentResource, EventResource};
use crate::platform::json_str;
use crate::platform::organizations;
use crate::platform::users::User;
use crate::store::tx_step;
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde_json::{Value, json};

pub const ID: &str = "post-event-purchase";

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Post Event Purchase: Calendar Sync", move |ctx| {
        run(deps.clone(), ctx)
    });
    for t in event_triggers(PURCHASE_CREATED, Some(LIVE))
        .into_iter()
        .chain(event_triggers(FULL_PRICE_REDEEMED, Some(LIVE)))
    {
        def = def.trigger(t);
    }
    def.idempotency("event.data.purchaseId")
        .summary("After a live-event purchase: adds the buyer to the Google Calendar event (or every event of the series) once, and to the purchase's organization as a learner.")
        .services(&["google-calendar"])
}

/// Puts the buyer on one calendar event; what happened, for the output.
async fn add(calendar: &GoogleCalendar, event_id: &str, calendar_id: &str, email: &str) -> Result<Value, StepError> {
    let outcome = calendar.ensure_attendee(calendar_id, email).await?;
    Ok(json!({
        "eventId": event_id,
        "calendarId": calendar_id,
        "eventFound": outcome.is_some(),
        "added": outcome.as_ref().is_some_and(|o| o.added),
        "duplicatesRemoved": outcome.as_ref().map_or(0, |o| o.duplicates_removed),
    }))
}

fn calendar_id_of(r: &ContentResource) -> Option<&str> {
    json_str(&r.fields, "calendarId")
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let calendar = &deps.integrations.google_calendar;
    let purchase_id = data_str(&ctx.event, "purchaseId")
        .ok_or_else(|| FnError::NonRetriable("The event has no purchaseId".into()))?;

    // Read steps (`tx_step::read`): recorded with the run's next write.
    let purchase: PurchaseOutput = tx_step::read(&ctx.step, "get purchase", move |tx| {
        let id = purchase_id.clone();
        Box::pin(async move { load_purchase(tx, &id).await })
    })
    .await?;
    let p = purchase.clone();
    let product: ProductWithResources = tx_step::read(&ctx.step, "get product", move |tx| {
        let p = p.clone();
        Box::pin(async move { load_product(tx, &p).await })
    })
    .await?;
    let p = purchase.clone();
    let user: User = tx_step::read(&ctx.step, "get user", move |tx| {
        let p = p.clone();
        Box::pin(async move { load_buyer(tx, &p).await })
    })
    .await?;
    let is_team_purchase = purchase.bulk_coupon_id.is_some();
    let out = |outcome: &str, extra: Value| {
        let mut o = json!({"outcome": outcome, "purchase": purchase, "product": product, "user": user,
            "isTeamPurchase": is_team_purchase, "eventResource": null, "orgMembership": null, "gCalEvent": null});
        if let (Some(o), Some(x)) = (o.as_object_mut(), extra.as_object()) {
            o.extend(x.clone());
        }
        o
    };

    let Some(resource_id) = event_resource_of(&product).map(|r| r.id.clone()) else {
        return Ok(out("skipped", json!({"reason": "No event resource"})));
    };
    let event: Option<EventResource> = ctx
        .step
        .run("get event resource", || async {
            content::get_event_or_event_series(db, &resource_id)
                .await
                .map_err(db_err)
        })
        .await?;
    let Some(event) = event else {
        return Ok(out("skipped", json!({"reason": "Event resource not found"})));
    };
    let with_event = |outcome: &str, extra: Value| {
        let mut o = out(outcome, extra);
        o["eventResource"] = json!(event);
        o
    };
    if is_team_purchase {
        return Ok(with_event("team-purchase", json!({})));
    }
    if !purchase.status.grants_access() {
        return Ok(with_event(
            "skipped",
            json!({"reason": format!("Purchase is {}", purchase.status)}),
        ));
    }

    let membership: Value = ctx
        .step
        .run("get org membership", || async {
            let Some(org_id) = &purchase.organization_id else {
                return Ok(Value::Null);
            };
            let m = organizations::add_member_to_organization(db, org_id, &user.id, &user.id)
                .await
                .map_err(db_err)?;
            organizations::add_role_for_member(db, org_id, &m.id, "learner")
                .await
                .map_err(db_err)?;
            Ok(json!({"organizationId": org_id, "organizationMembershipId": m.id}))
        })
        .await?;

    let email = user.email.trim().to_string();
    let result = if event.is_series() {
        let mut results = Vec::new();
        for child in event.children.iter().map(|c| &c.resource).filter(|r| r.kind == "event") {
            let Some(calendar_id) = calendar_id_of(child) else {
                results.push(json!({"eventId": child.id, "outcome": "skipped", "reason": "No calendarId"}));
                continue;
            };
            let name = format!("add user to calendar event ({})", child.title().unwrap_or(&child.id));
            let v: Value = ctx
                .step
                .run(&name, || async { add(calendar, &child.id, calendar_id, &email).await })
                .await?;
            results.push(v);
        }
        Value::Array(results)
    } else {
        match calendar_id_of(&event.resource) {
            None => {
                let mut o = with_event("skipped", json!({"reason": "No calendarId"}));
                o["orgMembership"] = membership;
                return Ok(o);
            }
            Some(calendar_id) => {
                ctx.step
                    .run("add user to calendar event", || async {
                        add(calendar, &event.resource.id, calendar_id, &email).await
                    })
                    .await?
            }
        }
    };
    let mut o = with_event("success", json!({}));
    o["orgMembership"] = membership;
    o["gCalEvent"] = result;
    Ok(o)
}
