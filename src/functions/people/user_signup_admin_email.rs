//! `user-signup-admin-email` — a user signed up: tell the site's admin, by email (design document "User & Auth
//! Events", reference §3.1).
//!
//! Triggers `user/created` and `user/signup` (both names are in the design document's registry; the web app sends
//! `user/created`). Idempotency `event.user.email`: one notification per address per 24 h, whichever of the two
//! events comes first. Steps:
//! 1. "parse email body" — Liquid `{{user.email}} signed up.` with `user` = the event's user.
//! 2. "parse email subject" — Liquid `Signup from {{user.email}} on <SITE_TITLE>`. A template error falls back to
//!    the raw template (as `user-created` does). Steps 1 and 2 are pure (`Step::pure`): recorded with step 3's
//!    attempt, in its transaction.
//! 3. "send the email" — the `basic` template to `ADMIN_EMAIL`, Reply-To the new user, with a `Message-ID` fixed by
//!    the run and the step (a send repeated after a crash is the same message).
//!
//! Branches: an event without `user.email` fails non-retriably ("the event has no user.email": there is nobody to
//! tell about). Without `ADMIN_EMAIL` the run completes without sending, its output saying so
//! (`sendResponse: null, skipped: "ADMIN_EMAIL is not configured"`): an unset address means the operator chose not
//! to be told, and failing every signup's run would only add noise.
//!
//! Decision (spec/README.md): the original emailed a welcome note to the *new user* despite its name (quirk 2); the
//! design document names an admin notification, so this one goes to the admin address from configuration.
//! Returns `{sendResponse, email: {body, subject}, user, to}`.

use crate::email::{Email, Template, message_id_for};
use crate::functions::Deps;
use crate::functions::people::user_created::render;
use ingot_actors::{FnError, FunctionDef, ResultExt, RunCtx, StepError, Trigger};
use serde_json::{Value, json};

pub const ID: &str = "user-signup-admin-email";
pub const USER_CREATED: &str = "user/created";
pub const USER_SIGNUP: &str = "user/signup";
pub const NOT_CONFIGURED: &str = "ADMIN_EMAIL is not configured";
const BODY_TEMPLATE: &str = "{{user.email}} signed up.";

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "User Signup Admin Email", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event(USER_CREATED))
        .trigger(Trigger::event(USER_SIGNUP))
        .idempotency("event.user.email")
        .summary("Emails the admin address (ADMIN_EMAIL) that a user signed up, once per email address.")
        .services(&["email"])
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let user = ctx.event.get("user").cloned().unwrap_or_else(|| json!({}));
    let email = user["email"].as_str().unwrap_or_default().trim().to_string();
    if email.is_empty() {
        return Err(FnError::NonRetriable("the event has no user.email".into()));
    }
    let subject_template = format!("Signup from {{{{user.email}}}} on {}", deps.config.site_title);
    let body: String = ctx
        .step
        .pure("parse email body", || Ok(render(BODY_TEMPLATE, &user)))
        .await?;
    let subject: String = ctx
        .step
        .pure("parse email subject", || Ok(render(&subject_template, &user)))
        .await?;
    let admin = deps.config.integrations.admin_email.clone();
    let email_out = json!({"body": body, "subject": subject});
    let Some(admin) = admin else {
        return Ok(
            json!({"sendResponse": null, "skipped": NOT_CONFIGURED, "email": email_out, "user": user, "to": null}),
        );
    };
    let run_id = ctx.run_id.clone();
    let site_title = deps.config.site_title.clone();
    let sent: Value = ctx
        .step
        .run("send the email", || async {
            let vars = json!({"site_title": site_title, "subject": subject, "body": body});
            let rendered = Template::Basic.render(&vars).map_err(StepError::fatal)?;
            let sent = deps
                .integrations
                .email
                .send(Email {
                    to: vec![admin.clone()],
                    reply_to: Some(email.clone()),
                    rendered,
                    unsubscribe_url: None,
                    message_id: Some(message_id_for(&format!("{run_id}/send the email"))),
                })
                .await?;
            serde_json::to_value(sent).fatal()
        })
        .await?;
    Ok(json!({"sendResponse": sent, "email": email_out, "user": user, "to": admin}))
}
