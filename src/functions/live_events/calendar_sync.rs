//! `calendar-sync` — an event resource was created or updated: create or update its Google Calendar event and
//! remember the calendar event's id in the resource's `fields.calendarId`.
//!
//! Triggers `resource/created` and `resource/updated` if `event.data.type == 'event'`; reads `event.data.id`.
//! 1. "fetch-event-resource" — missing: non-retriable "Resource not found".
//! 2. The resource is validated like the original's Event schema (an `event`, title of 2–90 characters,
//!    `startsAt`/`endsAt` ISO date-times if set, `timezone`/`calendarId`/`slug` strings if set): otherwise
//!    non-retriable "Invalid event resource format".
//! 3. Google Calendar must be configured (`GOOG_CALENDAR_IMPERSONATE_USER`, `GOOG_CREDENTIALS_JSON`): otherwise
//!    the error "Google Calendar not configured", retried like any error outside a step (design document).
//! 4. The resource is mapped to a Google event: summary = title; description = the Markdown of `details`,
//!    `body` or `description` as HTML (GFM, newlines removed); location; start/end with `timezone` (default
//!    `America/Los_Angeles`); guests can neither invite others nor see other guests. Without `startsAt` and
//!    `endsAt` the run returns `{outcome: "skipped", skipped: true, reason: "Missing required fields"}`.
//! 5. With a stored `calendarId`: "get-google-event"; if it exists and is not cancelled, "update-google-event"
//!    (PATCH, no notifications) → `updated`; if it is missing, cancelled, or vanishes during the update → create.
//! 6. "create-google-event" — the event with the organizer (the impersonated user, display name
//!    `NEXT_PUBLIC_SITE_TITLE`) as an accepted attendee → `created`.
//! 7. "update-resource-with-calendar-id" — when the calendar id changed, merged into `fields`.
//!
//! Returns `{outcome: "created" | "updated", calendarId}`.
//!
//! Creation is idempotent, so a crash after Google created the event but before the step's result was stored
//! (the step then runs again) never makes a second event: the event id is ours, derived from the resource id
//! and the calendar id it replaces ([`event_id_for`]; the Calendar API accepts client-chosen ids on insert, in
//! base32hex). Inserting an id that exists answers 409: if that event is live it is the one we created, and
//! it is updated and adopted; if it is cancelled (deleted in Calendar) the next id of the sequence is tried.
//! A look-up before the insert would not be enough: a crash between the insert and storing its answer
//! would still leave an event nobody knows the id of.

use crate::functions::Deps;
use crate::integrations::google_calendar::CalendarEvent;
use crate::platform::content::{self, ContentResource};
use crate::platform::json_str;
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError, Trigger};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

pub const ID: &str = "calendar-sync";
pub const EVENTS: [&str; 2] = ["resource/created", "resource/updated"];
pub const CONDITION: &str = "event.data.type == 'event'";
pub const DEFAULT_TIMEZONE: &str = "America/Los_Angeles";
/// How many ids of the sequence creation tries before giving up (each further one only after a cancelled one).
const MAX_ID_TRIES: u32 = 5;

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Calendar Sync", move |ctx| run(deps.clone(), ctx));
    for e in EVENTS {
        def = def.trigger(Trigger::event_if(e, CONDITION));
    }
    def.summary(
        "Creates or updates the Google Calendar event of an event resource (single or series) and stores its id.",
    )
    .services(&["google-calendar"])
}

/// A platform error inside a step: database failures retry, missing rows and bad data do not.
pub(crate) fn step_error(e: crate::platform::Error) -> StepError {
    if e.is_retryable() {
        StepError::retryable(e.to_string())
    } else {
        StepError::fatal(e.to_string())
    }
}

/// The Google event id for a resource's calendar event: 32 hex digits (valid base32hex) from the resource id,
/// the calendar id it replaces (empty for the first) and the attempt in the sequence.
pub fn event_id_for(resource_id: &str, replaces: &str, n: u32) -> String {
    let digest = Sha256::digest(format!("ingot-calendar-sync\0{resource_id}\0{replaces}\0{n}").as_bytes());
    hex::encode(&digest[..16])
}

/// Markdown (GFM) to HTML with the newlines removed, as the original sends descriptions.
pub fn markdown_to_html(markdown: &str) -> String {
    use pulldown_cmark::{Options, Parser, html};
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_GFM;
    let mut out = String::new();
    html::push_html(&mut out, Parser::new_ext(markdown, options));
    out.replace('\n', "")
}

/// Checks the resource like the original's Event schema; `Err` names what is wrong.
pub fn validate(resource: &ContentResource) -> Result<(), String> {
    if resource.kind != "event" {
        return Err(format!("type is {:?}, not \"event\"", resource.kind));
    }
    let f = resource
        .fields
        .as_object()
        .ok_or_else(|| "fields is not an object".to_string())?;
    let title = f.get("title").and_then(Value::as_str).unwrap_or_default();
    let n = title.trim().chars().count();
    if !(2..=90).contains(&n) {
        return Err(format!("title must have 2 to 90 characters, has {n}"));
    }
    for key in ["slug", "timezone", "calendarId", "location"] {
        match f.get(key) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => return Err(format!("{key} must be a string")),
        }
    }
    for key in ["startsAt", "endsAt"] {
        match f.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => {}
            Some(_) => return Err(format!("{key} must be an ISO 8601 date-time")),
        }
    }
    Ok(())
}

/// The Google event for the resource, or `None` without `startsAt` and `endsAt`.
pub fn map_to_google_event(resource: &ContentResource) -> Option<Value> {
    let f = &resource.fields;
    let non_empty = |k: &str| json_str(f, k).filter(|s| !s.trim().is_empty());
    let (starts, ends) = (non_empty("startsAt")?, non_empty("endsAt")?);
    let tz = non_empty("timezone").unwrap_or(DEFAULT_TIMEZONE);
    let markdown = non_empty("details")
        .or_else(|| non_empty("body"))
        .or_else(|| non_empty("description"))
        .unwrap_or_default();
    let mut event = json!({
        "summary": resource.title().unwrap_or_default(),
        "description": markdown_to_html(markdown),
        "start": {"dateTime": starts, "timeZone": tz},
        "end": {"dateTime": ends, "timeZone": tz},
        "guestsCanInviteOthers": false,
        "guestsCanSeeOtherGuests": false,
    });
    if let Some(location) = non_empty("location") {
        event["location"] = json!(location);
    }
    Some(event)
}

fn is_live(e: &CalendarEvent) -> bool {
    e.rest.get("status").and_then(Value::as_str) != Some("cancelled")
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let id = ctx
        .event
        .pointer("/data/id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let db = &deps.db;
    let calendar = &deps.integrations.google_calendar;

    let resource: ContentResource = ctx
        .step
        .run("fetch-event-resource", || async {
            match content::get_content_resource(db, &id).await.map_err(step_error)? {
                Some(r) => Ok(r),
                None => Err(StepError::fatal(format!("Resource not found: {id:?}"))),
            }
        })
        .await?;

    if let Err(why) = validate(&resource) {
        return Err(FnError::NonRetriable(format!("Invalid event resource format: {why}")));
    }
    if !calendar.configured() {
        return Err(FnError::Retryable {
            message: "Google Calendar not configured (set GOOG_CALENDAR_IMPERSONATE_USER and GOOG_CREDENTIALS_JSON)"
                .into(),
            retry_after: None,
        });
    }
    let stored_id = json_str(&resource.fields, "calendarId")
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string);
    let Some(google_event) = map_to_google_event(&resource) else {
        return Ok(json!({
            "outcome": "skipped",
            "skipped": true,
            "reason": "Missing required fields",
            "calendarId": stored_id,
        }));
    };

    let mut outcome = None;
    if let Some(cal_id) = &stored_id {
        let existing: Option<CalendarEvent> = ctx
            .step
            .run("get-google-event", || async { Ok(calendar.get_event(cal_id).await?) })
            .await?;
        if existing.as_ref().is_some_and(is_live) {
            let updated: Option<CalendarEvent> = ctx
                .step
                .run("update-google-event", || async {
                    Ok(calendar.patch_event(cal_id, google_event.clone()).await?)
                })
                .await?;
            if updated.is_some() {
                outcome = Some(("updated", cal_id.clone()));
            }
        }
    }

    let (outcome, calendar_id) = match outcome {
        Some(o) => o,
        None => {
            let replaces = stored_id.clone().unwrap_or_default();
            let created: String = ctx
                .step
                .run("create-google-event", || async {
                    create_idempotently(&deps, &resource.id, &replaces, &google_event).await
                })
                .await?;
            ("created", created)
        }
    };

    if stored_id.as_deref() != Some(calendar_id.as_str()) {
        let _: Value = ctx
            .step
            .run("update-resource-with-calendar-id", || async {
                let mut patch = Map::new();
                patch.insert("calendarId".into(), json!(calendar_id));
                content::merge_resource_fields(db, &resource.id, &patch)
                    .await
                    .map_err(step_error)?;
                Ok(json!({"resourceId": resource.id, "calendarId": calendar_id}))
            })
            .await?;
    }

    Ok(json!({"outcome": outcome, "calendarId": calendar_id}))
}

/// Inserts the event under the first free id of its sequence; an id that is taken by a live event is ours from
/// an earlier attempt and is updated and adopted instead. Returns the calendar event's id.
async fn create_idempotently(
    deps: &Deps,
    resource_id: &str,
    replaces: &str,
    event: &Value,
) -> Result<String, StepError> {
    let calendar = &deps.integrations.google_calendar;
    let host = calendar.impersonated_user().unwrap_or_default().to_string();
    let title = &deps.config.site_title;
    for n in 0..MAX_ID_TRIES {
        let event_id = event_id_for(resource_id, replaces, n);
        let mut body = event.clone();
        body["id"] = json!(event_id);
        body["organizer"] = json!({"email": host, "displayName": title});
        body["attendees"] =
            json!([{"email": host, "displayName": title, "organizer": true, "responseStatus": "accepted"}]);
        match calendar.insert_event(body).await {
            Ok(created) if created.id.is_empty() || created.id == event_id => return Ok(event_id),
            Ok(created) => return Ok(created.id),
            Err(e) if e.status() == Some(409) => match calendar.get_event(&event_id).await? {
                Some(existing) if is_live(&existing) => {
                    // Ours, from an attempt whose answer was lost: bring it up to date.
                    calendar.patch_event(&event_id, event.clone()).await?;
                    return Ok(event_id);
                }
                _ => continue,
            },
            Err(e) => return Err(e.into()),
        }
    }
    Err(StepError::fatal(format!(
        "Could not create the Google Calendar event: the first {MAX_ID_TRIES} event ids for resource {resource_id} are taken by cancelled events"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(fields: Value) -> ContentResource {
        ContentResource {
            id: "ev1".into(),
            kind: "event".into(),
            fields,
            slug: None,
            organization_id: None,
            created_by_id: None,
            created_at: chrono::NaiveDateTime::default(),
            updated_at: chrono::NaiveDateTime::default(),
        }
    }

    #[test]
    fn event_ids_are_deterministic_base32hex() {
        let a = event_id_for("ev1", "", 0);
        assert_eq!(a, event_id_for("ev1", "", 0));
        assert_ne!(a, event_id_for("ev1", "", 1));
        assert_ne!(a, event_id_for("ev1", "old", 0));
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c)));
    }

    #[test]
    fn maps_markdown_times_and_guest_settings() {
        let r = resource(json!({
            "title": "Office Hours", "startsAt": "2026-12-03T18:00:00.000Z", "endsAt": "2026-12-03T19:00:00.000Z",
            "body": "# Hi\n\nBring **questions**.", "location": "Zoom",
        }));
        let e = map_to_google_event(&r).unwrap();
        assert_eq!(e["summary"], "Office Hours");
        assert_eq!(e["description"], "<h1>Hi</h1><p>Bring <strong>questions</strong>.</p>");
        assert_eq!(
            e["start"],
            json!({"dateTime": "2026-12-03T18:00:00.000Z", "timeZone": DEFAULT_TIMEZONE})
        );
        assert_eq!(e["location"], "Zoom");
        assert_eq!(
            (e["guestsCanInviteOthers"].clone(), e["guestsCanSeeOtherGuests"].clone()),
            (json!(false), json!(false))
        );
        let details_first = resource(
            json!({"title": "T1", "startsAt": "2026-12-03T18:00:00Z", "endsAt": "2026-12-03T19:00:00Z", "timezone": "Europe/Paris", "details": "d", "body": "b"}),
        );
        let e = map_to_google_event(&details_first).unwrap();
        assert_eq!(
            (e["description"].as_str(), e["end"]["timeZone"].as_str()),
            (Some("<p>d</p>"), Some("Europe/Paris"))
        );
        assert_eq!(
            map_to_google_event(&resource(
                json!({"title": "No times", "startsAt": "2026-12-03T18:00:00Z"})
            )),
            None
        );
    }

    #[test]
    fn validation_follows_the_event_schema() {
        assert!(validate(&resource(json!({"title": "Office Hours"}))).is_ok());
        assert!(validate(&resource(json!({"title": "X"}))).is_err());
        assert!(validate(&resource(json!({"title": "x".repeat(91)}))).is_err());
        assert!(validate(&resource(json!({"title": "Ok title", "startsAt": "next tuesday"}))).is_err());
        assert!(validate(&resource(json!({"title": "Ok title", "calendarId": 5}))).is_err());
        let mut lesson = resource(json!({"title": "A lesson"}));
        lesson.kind = "lesson".into();
        assert!(validate(&lesson).is_err());
    }
}
