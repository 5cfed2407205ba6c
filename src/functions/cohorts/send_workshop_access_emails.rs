//! `send-workshop-access-emails` — every day at 00:30 UTC, the workshops of cohorts on sale that open that day:
//! at each one's start, its access emails go to everyone entitled to it (design document "Email &
//! Communication", reference §3.9).
//!
//! Trigger: cron `30 0 * * *` (UTC). "Today" is the UTC date of the *tick* (the event's `ts`), not of the moment
//! the run executes, so a tick fired late (see README "Decisions": a tick missed while the daemon was down runs
//! once at start-up) still handles its own day. Steps:
//! 1. "get-cohort-products" — active products (status 1) that sell a cohort.
//! 2. "get-workshops-starting-today" — per product, its cohort's `workshop` children in position order whose
//!    `fields.startsAt` falls on the tick's UTC date, earliest start first (the original kept position order, so
//!    a workshop opening early waited behind a later one); a workshop sold by two products is listed once. A product
//!    whose cohort cannot be read is an error in the list, not a failure of the run.
//! 3. Per workshop: "prep-workshop-\<id>" (the start as a time; an unparsable `startsAt` is recorded as an error
//!    and the workshop skipped), sleepUntil "wait-for-workshop-start-\<id>", then "send-emails-\<id>": the users
//!    with a live `cohort_content_access` entitlement covering the workshop (none: skipped with a reason); the
//!    workshop's attached `email` children, or a default one titled `Your access to <title> opens today`; every
//!    email to every user with the `workshop_access` template (subject = the email's title, body = its
//!    `fields.body`, link `<NEXT_PUBLIC_URL>/workshops/<slug>`). A recipient the mail server refuses (or any
//!    failure of one send) is counted with its error; the others still get theirs. No mailer configured at all
//!    fails the step non-retriably, naming the missing settings.
//! 4. "log-summary" — `{day, totalProductsProcessed, totalWorkshopsStartingToday, totalWorkshopsScheduled,
//!    totalEmailsSent, totalEmailsFailed, errors}`, also the run's output.
//!
//! Decisions: the original skipped a workshop whose start had already passed when the run looked at it, so a
//! workshop starting at 00:10 — or any workshop of a day whose run came late — never got its emails; here the
//! sleep simply ends at once and the emails go. The original's `processingTime` is left out (a wall-clock figure
//! in a memoized output). Each email's `Message-ID` is fixed by the run, the workshop, the email and the user, so
//! should a crash re-run a send step after the server accepted some messages, those copies are the same
//! messages to mail systems.

use crate::email::Template;
use crate::functions::Deps;
use crate::platform::commerce::products::{ProductWithResources, cohort_products};
use crate::platform::content::{self, ContentResource};
use crate::platform::entitlements::{self, users_with_content_access};
use crate::platform::users::{User, get_user};
use chrono::{DateTime, NaiveDate, Utc};
use ingot_actors::service::ServiceError;
use ingot_actors::{FnError, FunctionDef, ResultExt, RunCtx, StepError, Trigger};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const ID: &str = "send-workshop-access-emails";
pub const SCHEDULE: &str = "30 0 * * *";

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Send Workshop Access Emails", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::cron(SCHEDULE))
        .summary("Daily at 00:30 UTC: at the start of each cohort workshop opening that day, emails its access emails to every entitled user.")
        .services(&["email"])
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Workshop {
    id: String,
    title: String,
    starts_at: String,
    product_id: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sent {
    sent: usize,
    failed: usize,
    errors: Vec<Value>,
    skipped: Option<String>,
}

/// The UTC date of a tick (ms since the epoch).
pub fn tick_day(ts_ms: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(ts_ms)
        .unwrap_or_default()
        .date_naive()
}

fn starts_at(r: &ContentResource) -> Option<DateTime<Utc>> {
    let s = r.fields["startsAt"].as_str()?;
    DateTime::parse_from_rfc3339(s).ok().map(|d| d.with_timezone(&Utc))
}

/// The workshops of these products' cohorts that start on `day`, each once, plus the errors met.
async fn workshops_starting(
    db: &crate::store::Db,
    products: &[ProductWithResources],
    day: NaiveDate,
) -> (Vec<Workshop>, Vec<Value>) {
    let (mut out, mut errors) = (Vec::<Workshop>::new(), Vec::new());
    for p in products {
        for cohort in p.resources.iter().filter(|r| r.resource.kind == "cohort") {
            let children = match content::get_children(db, &cohort.resource.id).await {
                Ok(c) => c,
                Err(e) => {
                    errors.push(json!({"productId": p.product.id, "error": e.to_string()}));
                    continue;
                }
            };
            for child in children.into_iter().filter(|c| c.resource.kind == "workshop") {
                let r = child.resource;
                let on_day = starts_at(&r).is_some_and(|t| t.date_naive() == day);
                if on_day && !out.iter().any(|w| w.id == r.id) {
                    out.push(Workshop {
                        title: r.title().unwrap_or_default().to_string(),
                        starts_at: r.fields["startsAt"].as_str().unwrap_or_default().to_string(),
                        id: r.id,
                        product_id: p.product.id.clone(),
                    });
                }
            }
        }
    }
    // Earliest start first (stable: position order among equal starts), so a workshop opening at 09:00 never
    // waits behind one opening at 17:00 that comes first in its cohort.
    out.sort_by_key(|w| DateTime::parse_from_rfc3339(&w.starts_at).ok());
    (out, errors)
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let day = tick_day(ctx.event["ts"].as_i64().unwrap_or_else(ingot_actors::time::now_ms));

    let products: Vec<ProductWithResources> = ctx
        .step
        .run("get-cohort-products", || async {
            cohort_products(db).await.retryable()
        })
        .await?;
    let (workshops, mut errors): (Vec<Workshop>, Vec<Value>) = ctx
        .step
        .run("get-workshops-starting-today", || async {
            Ok(workshops_starting(db, &products, day).await)
        })
        .await?;

    let (mut scheduled, mut sent, mut failed) = (0, 0, 0);
    for w in &workshops {
        let start: Option<DateTime<Utc>> = ctx
            .step
            .run(&format!("prep-workshop-{}", w.id), || async {
                Ok(DateTime::parse_from_rfc3339(&w.starts_at)
                    .ok()
                    .map(|d| d.with_timezone(&Utc)))
            })
            .await?;
        let Some(start) = start else {
            errors.push(json!({"workshopId": w.id, "error": format!("startsAt {:?} is not a time", w.starts_at)}));
            continue;
        };
        scheduled += 1;
        ctx.step
            .sleep_until(&format!("wait-for-workshop-start-{}", w.id), start)
            .await?;
        let step = format!("send-emails-{}", w.id);
        let key = format!("{}/{step}", ctx.run_id);
        let result: Sent = ctx.step.run(&step, || send_emails(&deps, &key, w)).await?;
        sent += result.sent;
        failed += result.failed;
        errors.extend(result.errors);
    }

    let summary = json!({
        "day": day.to_string(), "totalProductsProcessed": products.len(),
        "totalWorkshopsStartingToday": workshops.len(), "totalWorkshopsScheduled": scheduled,
        "totalEmailsSent": sent, "totalEmailsFailed": failed, "errors": errors,
    });
    ctx.step.run("log-summary", || async { Ok(summary.clone()) }).await
}

/// The body of "send-emails-\<id>".
async fn send_emails(deps: &Deps, key: &str, w: &Workshop) -> Result<Sent, StepError> {
    let db = &deps.db;
    let access = entitlements::require_entitlement_type(db, "cohort_content_access")
        .await
        .fatal()?;
    let user_ids = users_with_content_access(db, &access.id, &w.id).await.retryable()?;
    let mut users: Vec<User> = Vec::new();
    for id in &user_ids {
        if let Some(u) = get_user(db, id).await.retryable()? {
            users.push(u);
        }
    }
    if users.is_empty() {
        return Ok(Sent {
            skipped: Some("no entitled users".into()),
            ..Sent::default()
        });
    }
    let workshop = content::get_content_resource(db, &w.id)
        .await
        .retryable()?
        .ok_or_else(|| StepError::fatal(format!("workshop {} not found", w.id)))?;
    let attached: Vec<ContentResource> = content::get_children(db, &w.id)
        .await
        .retryable()?
        .into_iter()
        .map(|c| c.resource)
        .filter(|r| r.kind == "email")
        .collect();
    let emails: Vec<(String, String, Option<String>)> = if attached.is_empty() {
        vec![(
            "default".into(),
            format!("Your access to {} opens today", w.title),
            None,
        )]
    } else {
        attached
            .iter()
            .map(|e| {
                let subject = e
                    .title()
                    .map_or_else(|| format!("Your access to {} opens today", w.title), str::to_string);
                (e.id.clone(), subject, e.fields["body"].as_str().map(str::to_string))
            })
            .collect()
    };
    let public = deps
        .config
        .integrations
        .public_url
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/');
    let slug = workshop.slug.clone().unwrap_or_else(|| workshop.id.clone());
    let mut out = Sent::default();
    for (email_id, subject, body) in &emails {
        for user in &users {
            let vars = json!({
                "site_title": deps.config.site_title, "subject": subject, "body": body,
                "workshop_title": w.title, "workshop_description": workshop.fields["description"],
                "user_first_name": user.name.as_deref().and_then(|n| n.split_whitespace().next()),
                "url": format!("{public}/workshops/{slug}"),
            });
            let reply_to = deps.config.integrations.support_email.as_deref();
            let result = deps
                .integrations
                .email
                .send_template_keyed(
                    &format!("{key}/{email_id}/{}", user.id),
                    &user.email,
                    Template::WorkshopAccess,
                    &vars,
                    reply_to,
                )
                .await;
            match result {
                Ok(_) => out.sent += 1,
                // No mailer at all: every send would fail the same way; fail the step, naming the missing settings.
                Err(e @ ServiceError::NotConfigured { .. }) => return Err(e.into()),
                Err(e) => {
                    out.failed += 1;
                    out.errors
                        .push(json!({"workshopId": w.id, "emailId": email_id, "to": user.email,
                        "error": e.to_string()}));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_is_the_emails_title_or_the_default() {
        let vars = |subject: Value| json!({"workshop_title": "Evals", "url": "u", "subject": subject});
        let subject = |v: Value| Template::WorkshopAccess.render(&vars(v)).unwrap().subject;
        assert_eq!(subject(Value::Null), "Your access to Evals opens today");
        assert_eq!(subject(json!("Doors open")), "Doors open");
    }

    #[test]
    fn the_day_is_the_ticks_utc_date() {
        let t = DateTime::parse_from_rfc3339("2026-05-10T00:30:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(tick_day(t).to_string(), "2026-05-10");
        assert_eq!(tick_day(t - 31 * 60_000).to_string(), "2026-05-09");
    }
}
