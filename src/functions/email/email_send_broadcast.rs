//! `email-send-broadcast` — a newsletter/broadcast email to one user, unless they unsubscribed (design document
//! "Email Send Broadcast Workflow", reference §3.9).
//!
//! Trigger `email/send-broadcast` `{toUserId}` (optional `subject` and `body`); no `if`, no idempotency key (two
//! broadcasts to the same user are two emails; a replayed event — same id — is stored as a duplicate and starts
//! nothing). Steps:
//! 1. "load the preference type and channel" — Newsletter / Email; missing: non-retriable
//!    ("Preference type or channel not found").
//! 2. "load the user" — missing: non-retriable ("User not found with id \<id>").
//! 3. "load the user preference" — the user's Newsletter/Email preference.
//! 4. Only when there is none: "create the user preference" (active, opted in now) and "load the user
//!    preference" again (the engine numbers the repeated name `load the user preference:1`).
//! 5. An inactive preference ends the run with the output `"User has unsubscribed"`.
//! 6. "send the email" — the `basic` template (the original's BasicEmail) to the user's address, subject
//!    `<SITE_TITLE> Test` and body `hi from <SITE_TITLE>` unless the event gives `subject` / `body`, with
//!    `List-Unsubscribe: <{NEXT_PUBLIC_URL}/unsubscribed?userId=<id>>`. Returns what the mail server answered
//!    (`{response, dry_run}`).
//!
//! Decisions: the sender is `EMAIL_FROM` (the original's `<SITE_TITLE> <SUPPORT_EMAIL>`), through SMTP as every
//! email (Resend accepts SMTP). Without `NEXT_PUBLIC_URL` there is no unsubscribe link, so "send the email" fails
//! non-retriably rather than send a broadcast nobody can leave. An SMTP 5xx is non-retriable, 4xx and connection
//! failures retry. A completed send replays from the step's memo; in the one window left (the process dies after
//! the server accepted the message and before the step's result is stored) the copy is sent again with the same
//! `Message-ID` (derived from the run id and the step), so mail systems treat it as the same message.

use crate::email::{Email, Sent, Template, message_id_for};
use crate::functions::Deps;
use crate::platform::communication::{self, Preference};
use crate::platform::users::{self, User};
use ingot_actors::{FnError, FunctionDef, ResultExt, RunCtx, StepError, Trigger};
use serde_json::{Value, json};

pub const ID: &str = "email-send-broadcast";
pub const EVENT: &str = "email/send-broadcast";
pub const UNSUBSCRIBED: &str = "User has unsubscribed";

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Email Send Broadcast", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event(EVENT))
        .summary("Sends a broadcast email to one user unless they unsubscribed from the Newsletter/Email preference.")
        .services(&["email"])
}

/// `{public_url}/unsubscribed?userId=<id>`, with exactly one slash and the id URL-encoded.
pub fn unsubscribe_url(public_url: &str, user_id: &str) -> String {
    let base = format!("{}/unsubscribed", public_url.trim_end_matches('/'));
    match reqwest::Url::parse(&base) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("userId", user_id);
            url.to_string()
        }
        Err(_) => format!("{base}?userId={user_id}"),
    }
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let data = &ctx.event["data"];
    let user_id = data["toUserId"].as_str().unwrap_or_default().to_string();

    let tc: crate::functions::TypeAndChannel = ctx
        .step
        .run("load the preference type and channel", || {
            crate::functions::load_type_and_channel(db)
        })
        .await?;

    let user: User = ctx
        .step
        .run("load the user", || async {
            let found = if user_id.is_empty() {
                None
            } else {
                users::get_user(db, &user_id).await.retryable()?
            };
            found.ok_or_else(|| StepError::fatal(format!("User not found with id {user_id:?}")))
        })
        .await?;

    let load = || async {
        communication::get_preference(db, &user.id, &tc.preference_type.id, &tc.channel.id)
            .await
            .retryable()
    };
    let mut preference: Option<Preference> = ctx.step.run("load the user preference", load).await?;
    if preference.is_none() {
        ctx.step
            .run("create the user preference", || async {
                let (pref, created) =
                    communication::ensure_active_preference(db, &user.id, &tc.preference_type.id, &tc.channel.id)
                        .await
                        .retryable()?;
                Ok(json!({"preference": pref, "created": created}))
            })
            .await
            .map(|_: Value| ())?;
        preference = ctx.step.run("load the user preference", load).await?;
    }
    let Some(preference) = preference else {
        return Err(FnError::NonRetriable(format!(
            "the preference of user {:?} was created but cannot be read back",
            user.id
        )));
    };
    if !preference.active {
        return Ok(json!(UNSUBSCRIBED));
    }

    let run_id = ctx.run_id.clone();
    let site_title = deps.config.site_title.clone();
    let subject = data["subject"]
        .as_str()
        .map_or_else(|| format!("{site_title} Test"), str::to_string);
    let body = data["body"]
        .as_str()
        .map_or_else(|| format!("hi from {site_title}"), str::to_string);
    let sent: Value = ctx
        .step
        .run("send the email", || async {
            let public_url = deps.config.integrations.public_url.as_deref().ok_or_else(|| {
                StepError::fatal("NEXT_PUBLIC_URL is not configured: a broadcast needs its unsubscribe link")
            })?;
            let unsubscribe = unsubscribe_url(public_url, &user.id);
            let first_name = user
                .name
                .as_deref()
                .and_then(|n| n.split_whitespace().next())
                .map(str::to_string);
            let vars = json!({
                "site_title": site_title, "subject": subject, "body": body, "preview": "hi there!",
                "user_first_name": first_name, "unsubscribe_url": unsubscribe,
            });
            let rendered = Template::Basic.render(&vars).map_err(StepError::fatal)?;
            let sent: Sent = deps
                .integrations
                .email
                .send(Email {
                    to: vec![user.email.clone()],
                    reply_to: None,
                    rendered,
                    unsubscribe_url: Some(unsubscribe),
                    message_id: Some(message_id_for(&format!("{run_id}/send the email"))),
                })
                .await?;
            serde_json::to_value(sent).fatal()
        })
        .await?;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsubscribe_urls_have_one_slash_and_an_encoded_id() {
        assert_eq!(
            unsubscribe_url("https://aihero.dev/", "u_1"),
            "https://aihero.dev/unsubscribed?userId=u_1"
        );
        assert_eq!(
            unsubscribe_url("https://aihero.dev", "a b&c"),
            "https://aihero.dev/unsubscribed?userId=a+b%26c"
        );
    }
}
