//! `postmark-webhook` — records every Postmark delivery event and keeps the recipient's Newsletter/Email
//! preference in line with it (design document "postmark/webhook", reference §3.1; decision in spec/README.md).
//!
//! Triggers `postmark/webhook` `{event: RecordType, data: <Postmark's body>}` (what `POST /webhooks/postmark`
//! stores) and its original name `postmark/web-hook-event`, whose data is Postmark's body itself. No `if`: every
//! record type is recorded (the original listened to Bounce, SpamComplaint and SubscriptionChange only, and did
//! nothing with them, quirk 3). No idempotency key: the webhook's dedupe id (a hash of the body) already makes a
//! Postmark retry a duplicate that starts nothing. Steps:
//! 1. "record delivery event" — one `postmark_events` row (type, message id, recipient, payload, received at = the
//!    event's time), keyed by the run, so a step that runs again records nothing twice. A body without
//!    `RecordType` fails non-retriably.
//! 2. Only for a hard bounce, a spam complaint or a `SubscriptionChange` (`SuppressSending` true: unsubscribe;
//!    false: resubscribe): "load the preference type and channel" (Newsletter / Email; missing: non-retriable),
//!    "find the recipient" (the user with that email; none, or no recipient in the body: the run ends with
//!    `action: "no-user"`), then "deactivate the preference" or "reactivate the preference". Deactivating a user
//!    who has no preference yet creates it inactive (otherwise the next broadcast would create it active and send);
//!    reactivating creates it active. Setting the state it already has keeps its timestamps.
//!
//! Returns `{recordType, messageId, recipient, action: "recorded" | "no-user" | "deactivated" | "reactivated",
//! userId?, preference?}`. Soft bounces, deliveries, opens and clicks are recorded only.

use crate::functions::{Deps, event_triggers};
use crate::platform::communication::{self, Preference};
use crate::platform::email_events::{self, DeliveryEvent, PreferenceChange};
use crate::platform::users::{self, User};
use ingot_actors::{FnError, FunctionDef, ResultExt, RunCtx, StepError};
use serde_json::{Value, json};

pub const ID: &str = "postmark-webhook";
pub const EVENT: &str = "postmark/webhook";

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Postmark Webhook", move |ctx| run(deps.clone(), ctx));
    for t in event_triggers(EVENT, None) {
        def = def.trigger(t);
    }
    def.summary("Records every Postmark delivery event; a hard bounce, spam complaint or unsubscribe turns the recipient's Newsletter/Email preference off, a resubscribe turns it on.")
}

/// Postmark's body: `data.data` for our webhook's `{event, data}`, `data` itself for the original event.
fn body(event: &Value) -> Value {
    let data = &event["data"];
    if data.get("RecordType").is_some() {
        data.clone()
    } else {
        data["data"].clone()
    }
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let body = body(&ctx.event);
    let ts = ctx.event["ts"].as_i64().unwrap_or_else(ingot_actors::time::now_ms);
    let received_at = chrono::DateTime::from_timestamp_millis(ts)
        .unwrap_or_default()
        .naive_utc();
    let run_id = ctx.run_id.clone();

    let recorded: DeliveryEvent = ctx
        .step
        .run("record delivery event", || async {
            if !body["RecordType"].is_string() {
                return Err(StepError::fatal("the Postmark body has no RecordType"));
            }
            email_events::record_delivery_event(db, &run_id, &body, received_at)
                .await
                .retryable()
        })
        .await?;
    let mut out = json!({"recordType": recorded.record_type, "messageId": recorded.message_id,
        "recipient": recorded.recipient, "action": "recorded"});
    let change = email_events::preference_change(&body);
    if change == PreferenceChange::None {
        return Ok(out);
    }

    let tc: crate::functions::TypeAndChannel = ctx
        .step
        .run("load the preference type and channel", || {
            crate::functions::load_type_and_channel(db)
        })
        .await?;
    let user: Option<User> = ctx
        .step
        .run("find the recipient", || async {
            match &recorded.recipient {
                Some(email) => users::get_user_by_email(db, email).await.retryable(),
                None => Ok(None),
            }
        })
        .await?;
    let Some(user) = user else {
        out["action"] = json!("no-user");
        return Ok(out);
    };
    let active = change == PreferenceChange::Reactivate;
    let name = if active {
        "reactivate the preference"
    } else {
        "deactivate the preference"
    };
    let preference: Preference = ctx
        .step
        .run(name, || async {
            let (t, ch) = (&tc.preference_type.id, &tc.channel.id);
            if communication::get_preference(db, &user.id, t, ch)
                .await
                .retryable()?
                .is_none()
            {
                communication::ensure_active_preference(db, &user.id, t, ch)
                    .await
                    .retryable()?;
            }
            communication::set_preference_active(db, &user.id, t, ch, active)
                .await
                .retryable()?
                .ok_or_else(|| StepError::retryable(format!("the preference of user {} cannot be read back", user.id)))
        })
        .await?;
    out["action"] = json!(if active { "reactivated" } else { "deactivated" });
    out["userId"] = json!(user.id);
    out["preference"] = json!(preference);
    Ok(out)
}
