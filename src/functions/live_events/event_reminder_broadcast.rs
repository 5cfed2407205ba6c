//! `event-reminder-broadcast` — every day at 06:00 in Los Angeles, the event reminders due before the end of the
//! UTC day: at each one's time, its email goes to the event's buyers and to the support address (reference §3.9;
//! not in the design document's list, registered in the original).
//!
//! Trigger: cron `TZ=America/Los_Angeles 0 6 * * *`. "Now" is the tick (the event's `ts`), so a tick fired late
//! after downtime handles its own window. Steps:
//! 1. "get-reminders-to-schedule" — every live link `event → email` whose metadata is
//!    `{type: "event-reminder", hoursInAdvance: <number>}`; the event must be `published` (`fields.state`) and have
//!    a `startsAt`; reminder time = start − hoursInAdvance hours; kept when tick ≤ time < the next UTC midnight
//!    after the tick; sorted by time (then event, email).
//! 2. Per reminder: sleepUntil "wait-for-reminder-\<eventId>-\<emailId>", then "send-reminder-\<eventId>-\<emailId>":
//!    recipients = users with a `Valid` purchase of a product selling the event (none: of its event-series), in
//!    email order, then `NEXT_PUBLIC_SUPPORT_EMAIL` (as "team"; left out when unset or already a buyer). Subject =
//!    the email's `fields.subject` (default `Tomorrow's <title> - Please Review Instructions First!`), body = its
//!    `fields.body` (default `Reminder: Your event is starting soon!`), both Liquid with `event` (the event's
//!    fields and id), `title`, `user` (`{name, email}`) and, in the body only, `url` = `<NEXT_PUBLIC_URL>/events/
//!    <slug>`; a template error falls back to the raw text. Sent with the `basic` template; one recipient's failure
//!    is collected with its error, the others still get theirs (no mailer configured at all fails the step,
//!    naming the missing settings).
//!
//! Returns `{scheduled, sent, reminders: [{eventId, emailId, at, sent, failed}], errors}`. Each email's
//! `Message-ID` is fixed by the run, the step and the recipient (a send step re-run after a crash repeats the same
//! messages, not new ones).

use crate::email::Template;
use crate::functions::Deps;
use crate::platform::commerce::purchases::valid_purchasers_of_resource;
use crate::platform::content::{self, ReminderLink, event_reminder_links};
use chrono::{DateTime, Duration, Utc};
use ingot_actors::service::ServiceError;
use ingot_actors::{FnError, FunctionDef, ResultExt, RunCtx, StepError, Trigger};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const ID: &str = "event-reminder-broadcast";
pub const SCHEDULE: &str = "TZ=America/Los_Angeles 0 6 * * *";
const DEFAULT_BODY: &str = "Reminder: Your event is starting soon!";

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Event Reminder Broadcast", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::cron(SCHEDULE))
        .summary("Daily at 06:00 Los Angeles time: sends each event reminder due that UTC day, at its time, to the event's valid buyers and the support address.")
        .services(&["email"])
}

/// One reminder to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reminder {
    pub event_id: String,
    pub email_id: String,
    pub at: DateTime<Utc>,
}

/// The reminders of these links due in `[tick, next UTC midnight after tick)`, sorted by time.
pub fn due_reminders(links: &[ReminderLink], tick: DateTime<Utc>) -> Vec<Reminder> {
    let end = (tick.date_naive() + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let mut out: Vec<Reminder> = links
        .iter()
        .filter(|l| l.event.fields["state"] == "published")
        .filter_map(|l| {
            let start = DateTime::parse_from_rfc3339(l.event.fields["startsAt"].as_str()?).ok()?;
            let hours = l.hours_in_advance?;
            let at = start.with_timezone(&Utc) - Duration::milliseconds((hours * 3_600_000.0) as i64);
            (tick <= at && at < end).then(|| Reminder {
                event_id: l.event.id.clone(),
                email_id: l.email.id.clone(),
                at,
            })
        })
        .collect();
    out.sort_by(|a, b| (a.at, &a.event_id, &a.email_id).cmp(&(b.at, &b.event_id, &b.email_id)));
    out
}

/// Renders a Liquid template with these globals; on any error returns the template unrendered.
pub fn render(template: &str, globals: &Value) -> String {
    crate::email::templates::render_or_itself(template, globals)
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Outcome {
    sent: usize,
    failed: usize,
    errors: Vec<Value>,
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let ts = ctx.event["ts"].as_i64().unwrap_or_else(ingot_actors::time::now_ms);
    let tick = DateTime::<Utc>::from_timestamp_millis(ts).unwrap_or_default();

    let reminders: Vec<Reminder> = ctx
        .step
        .run("get-reminders-to-schedule", || async {
            let links = event_reminder_links(db).await.retryable()?;
            Ok(due_reminders(&links, tick))
        })
        .await?;

    let (mut sent, mut listed, mut errors) = (0, Vec::new(), Vec::new());
    for r in &reminders {
        let suffix = format!("{}-{}", r.event_id, r.email_id);
        ctx.step
            .sleep_until(&format!("wait-for-reminder-{suffix}"), r.at)
            .await?;
        let step = format!("send-reminder-{suffix}");
        let key = format!("{}/{step}", ctx.run_id);
        let outcome: Outcome = ctx.step.run(&step, || send_reminder(&deps, &key, r)).await?;
        sent += outcome.sent;
        listed.push(json!({"eventId": r.event_id, "emailId": r.email_id, "at": r.at,
            "sent": outcome.sent, "failed": outcome.failed}));
        errors.extend(outcome.errors);
    }
    Ok(json!({"scheduled": reminders.len(), "sent": sent, "reminders": listed, "errors": errors}))
}

/// The body of "send-reminder-\<eventId>-\<emailId>".
async fn send_reminder(deps: &Deps, key: &str, r: &Reminder) -> Result<Outcome, StepError> {
    let db = &deps.db;
    let missing = |what: &str, id: &str| StepError::fatal(format!("{what} {id} not found"));
    let event = content::get_content_resource(db, &r.event_id)
        .await
        .retryable()?
        .ok_or_else(|| missing("event", &r.event_id))?;
    let email = content::get_content_resource(db, &r.email_id)
        .await
        .retryable()?
        .ok_or_else(|| missing("email", &r.email_id))?;
    let mut buyers = valid_purchasers_of_resource(db, &event.id).await.retryable()?;
    if buyers.is_empty() {
        for series in content::get_parents_of_type(db, &event.id, "event-series")
            .await
            .retryable()?
        {
            buyers = valid_purchasers_of_resource(db, &series.id).await.retryable()?;
            if !buyers.is_empty() {
                break;
            }
        }
    }
    let mut recipients: Vec<(String, Option<String>)> = buyers.into_iter().map(|u| (u.email, u.name)).collect();
    if let Some(support) = &deps.config.integrations.support_email
        && !recipients.iter().any(|(e, _)| e.eq_ignore_ascii_case(support))
    {
        recipients.push((support.clone(), Some("team".into())));
    }

    let title = event.title().unwrap_or_default().to_string();
    let public = deps
        .config
        .integrations
        .public_url
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/');
    let url = format!("{public}/events/{}", event.slug.as_deref().unwrap_or(&event.id));
    let mut event_vars = event.fields.clone();
    event_vars["id"] = json!(event.id);
    let subject_t = email.fields["subject"].as_str().map_or_else(
        || format!("Tomorrow's {title} - Please Review Instructions First!"),
        str::to_string,
    );
    let body_t = email.fields["body"].as_str().unwrap_or(DEFAULT_BODY).to_string();

    let mut out = Outcome::default();
    for (to, name) in &recipients {
        let user = json!({"email": to, "name": name});
        let subject = render(&subject_t, &json!({"event": event_vars, "title": title, "user": user}));
        let body = render(
            &body_t,
            &json!({"event": event_vars, "title": title, "user": user, "url": url}),
        );
        let vars = json!({"site_title": deps.config.site_title, "subject": subject, "body": body,
            "user_first_name": name.as_deref().and_then(|n| n.split_whitespace().next())});
        let result = deps
            .integrations
            .email
            .send_template_keyed(&format!("{key}/{to}"), to, Template::Basic, &vars, None)
            .await;
        match result {
            Ok(_) => out.sent += 1,
            // No mailer at all: every send would fail the same way; fail the step, naming the missing settings.
            Err(e @ ServiceError::NotConfigured { .. }) => return Err(e.into()),
            Err(e) => {
                out.failed += 1;
                out.errors
                    .push(json!({"eventId": r.event_id, "emailId": r.email_id, "to": to,
                    "error": e.to_string()}));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::content::ContentResource;

    fn resource(id: &str, fields: Value) -> ContentResource {
        ContentResource {
            id: id.into(),
            kind: "event".into(),
            fields,
            slug: None,
            organization_id: None,
            created_by_id: None,
            created_at: Default::default(),
            updated_at: Default::default(),
        }
    }

    fn link(event: &str, state: &str, starts: &str, hours: Option<f64>) -> ReminderLink {
        ReminderLink {
            event: resource(event, json!({"state": state, "startsAt": starts, "title": event})),
            email: resource(&format!("email_{event}"), json!({})),
            hours_in_advance: hours,
        }
    }

    #[test]
    fn reminders_due_from_the_tick_to_the_next_utc_midnight() {
        let tick = DateTime::parse_from_rfc3339("2026-11-20T14:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let links = [
            link("late", "published", "2026-11-21T18:00:00Z", Some(24.0)), // 2026-11-20T18:00: due
            link("early", "published", "2026-11-21T15:00:00Z", Some(24.5)), // 14:30: due, first
            link("past", "published", "2026-11-21T13:00:00Z", Some(24.0)), // 13:00: before the tick
            link("tomorrow", "published", "2026-11-22T00:00:00Z", Some(0.0)), // midnight: excluded
            link("draft", "draft", "2026-11-20T20:00:00Z", Some(1.0)),
            link("nohours", "published", "2026-11-20T20:00:00Z", None),
            link("nostart", "published", "soon", Some(1.0)),
        ];
        let due: Vec<(String, String)> = due_reminders(&links, tick)
            .into_iter()
            .map(|r| (r.event_id, r.at.to_rfc3339()))
            .collect();
        assert_eq!(
            due,
            [
                ("early".to_string(), "2026-11-20T14:30:00+00:00".to_string()),
                ("late".to_string(), "2026-11-20T18:00:00+00:00".to_string()),
            ]
        );
    }

    #[test]
    fn liquid_with_fallback() {
        let g = json!({"title": "Office Hours", "user": {"email": "a@x.io"}});
        assert_eq!(render("{{title}} for {{user.email}}", &g), "Office Hours for a@x.io");
        assert_eq!(render("{% if %}", &g), "{% if %}");
    }
}
