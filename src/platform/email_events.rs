//! Email delivery events reported by Postmark's webhooks (`postmark_events`), and what each means for the
//! recipient's Newsletter/Email preference.
//!
//! Postmark's `RecordType`s: `Delivery`, `Bounce` (with `Type`: `HardBounce`, `SoftBounce`, ...), `SpamComplaint`,
//! `Open`, `Click`, `SubscriptionChange` (with `SuppressSending`: true when the recipient unsubscribed or was
//! suppressed, false when reactivated). The recipient is `Recipient` (Delivery, Open, Click, SubscriptionChange)
//! or `Email` (Bounce, SpamComplaint).

use super::Result;
use crate::store::Db;
use crate::store::schema::postmark_events as pe;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a delivery event does to the recipient's Newsletter/Email preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PreferenceChange {
    /// A hard bounce, a spam complaint or an unsubscribe: stop sending.
    Deactivate,
    /// A resubscribe (`SubscriptionChange` with `SuppressSending: false`).
    Reactivate,
    /// Anything else: recorded only.
    None,
}

/// The change a Postmark webhook body asks for.
pub fn preference_change(body: &Value) -> PreferenceChange {
    match body["RecordType"].as_str().unwrap_or_default() {
        "Bounce" if body["Type"] == "HardBounce" => PreferenceChange::Deactivate,
        "SpamComplaint" => PreferenceChange::Deactivate,
        "SubscriptionChange" => match body["SuppressSending"].as_bool() {
            Some(true) => PreferenceChange::Deactivate,
            Some(false) => PreferenceChange::Reactivate,
            None => PreferenceChange::None,
        },
        _ => PreferenceChange::None,
    }
}

/// The recipient's address (`Recipient`, else `Email`), trimmed; `None` when there is none.
pub fn recipient(body: &Value) -> Option<String> {
    ["Recipient", "Email"]
        .iter()
        .filter_map(|k| body[*k].as_str())
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_string)
}

/// One recorded delivery event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryEvent {
    pub id: String,
    pub run_id: String,
    pub record_type: String,
    pub message_id: Option<String>,
    pub recipient: Option<String>,
    #[diesel(deserialize_as = super::JsonText)]
    pub payload: Value,
    pub received_at: NaiveDateTime,
}

const COLUMNS: (
    pe::id,
    pe::run_id,
    pe::record_type,
    pe::message_id,
    pe::recipient,
    pe::payload,
    pe::received_at,
) = (
    pe::id,
    pe::run_id,
    pe::record_type,
    pe::message_id,
    pe::recipient,
    pe::payload,
    pe::received_at,
);

/// Records a Postmark webhook body once per `run_id` (a second call returns the first row). `received_at` is
/// when the webhook reached us (the event's time).
pub async fn record_delivery_event(
    db: &Db,
    run_id: &str,
    body: &Value,
    received_at: NaiveDateTime,
) -> Result<DeliveryEvent> {
    let record_type = body["RecordType"].as_str().unwrap_or_default().to_string();
    let message_id = body["MessageID"].as_str().map(str::to_string);
    let to = recipient(body);
    let id = uuid::Uuid::now_v7().to_string();
    let payload = body.to_string();
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(pe::table)
            .values((
                pe::id.eq(&id),
                pe::run_id.eq(run_id),
                pe::record_type.eq(&record_type),
                pe::message_id.eq(&message_id),
                pe::recipient.eq(&to),
                pe::payload.eq(&payload),
                pe::received_at.eq(received_at),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    Ok(crate::with_conn!(db, read, |c| {
        pe::table.filter(pe::run_id.eq(run_id)).select(COLUMNS).first(c).await?
    }))
}

/// The recorded events for a recipient, oldest first.
pub async fn delivery_events_for(db: &Db, recipient: &str) -> Result<Vec<DeliveryEvent>> {
    Ok(crate::with_conn!(db, read, |c| {
        pe::table
            .filter(pe::recipient.eq(recipient))
            .order((pe::received_at, pe::id))
            .select(COLUMNS)
            .load(c)
            .await?
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_each_record_type_does() {
        let cases = [
            (
                json!({"RecordType": "Bounce", "Type": "HardBounce"}),
                PreferenceChange::Deactivate,
            ),
            (
                json!({"RecordType": "Bounce", "Type": "SoftBounce"}),
                PreferenceChange::None,
            ),
            (json!({"RecordType": "SpamComplaint"}), PreferenceChange::Deactivate),
            (
                json!({"RecordType": "SubscriptionChange", "SuppressSending": true}),
                PreferenceChange::Deactivate,
            ),
            (
                json!({"RecordType": "SubscriptionChange", "SuppressSending": false}),
                PreferenceChange::Reactivate,
            ),
            (json!({"RecordType": "SubscriptionChange"}), PreferenceChange::None),
            (json!({"RecordType": "Delivery"}), PreferenceChange::None),
            (json!({"RecordType": "Open"}), PreferenceChange::None),
            (json!({}), PreferenceChange::None),
        ];
        for (body, want) in cases {
            assert_eq!(preference_change(&body), want, "{body}");
        }
    }

    #[test]
    fn the_recipient_is_recipient_or_email() {
        assert_eq!(recipient(&json!({"Recipient": " a@x.io "})).as_deref(), Some("a@x.io"));
        assert_eq!(recipient(&json!({"Email": "b@x.io"})).as_deref(), Some("b@x.io"));
        assert_eq!(
            recipient(&json!({"Recipient": "", "Email": "b@x.io"})).as_deref(),
            Some("b@x.io")
        );
        assert_eq!(recipient(&json!({})), None);
    }
}
