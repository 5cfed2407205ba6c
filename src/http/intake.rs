//! Parsing the body of `POST /e/{event_key}` (Inngest's event API): one event object or an array of up to 5,000.
//! Pure — nothing here touches the database. Any invalid event refuses the whole request.
//!
//! This file reads the JSON (`name`, `data`, `user`, `id` — the producer's dedupe id —, `ts`, `v`, each of its
//! type); what makes an event valid is the one rule set every producer shares, [`ingot_actors::event::rules`]
//! (name not blank nor reserved, `data`/`user` objects, `data._inngest` stripped, lengths, NUL, `ts` between 1980
//! and 2100). Other fields (such as `meta`) are ignored, so newer SDKs keep working; a known field of the wrong
//! type is an error.

use super::error::ApiError;
use ingot_actors::event::rules::{self, Draft, Origin, Valid};
use serde_json::Value;
use serde_json::value::RawValue;

pub use ingot_actors::event::rules::{MAX_ID_LEN, MAX_NAME_LEN, no_nul};

pub const MAX_EVENTS: usize = 5_000;
pub const MAX_EVENT_BYTES: usize = 3 * 1024 * 1024;

/// The body's events, each checked by the one rule set (`ts` defaults to `now_ms`).
pub fn parse_body(body: &[u8], now_ms: i64) -> Result<Vec<Valid>, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let raws: Vec<Box<RawValue>> = match first {
        Some(b'{') => vec![serde_json::from_slice(body).map_err(malformed)?],
        Some(b'[') => serde_json::from_slice(body).map_err(malformed)?,
        _ => {
            return Err(ApiError::BadRequest(
                "Request body must contain an event object or an array of event objects".into(),
            ));
        }
    };
    if raws.len() > MAX_EVENTS {
        return Err(ApiError::BadRequest(format!(
            "Too many events: {} (max {MAX_EVENTS} per request)",
            raws.len()
        )));
    }
    raws.iter()
        .enumerate()
        .map(|(i, raw)| parse_event(i, raw, now_ms))
        .collect()
}

fn malformed(e: serde_json::Error) -> ApiError {
    ApiError::BadRequest(format!("Malformed JSON: {e}"))
}

fn parse_event(i: usize, raw: &RawValue, now_ms: i64) -> Result<Valid, ApiError> {
    let size = raw.get().len();
    if size > MAX_EVENT_BYTES {
        return Err(ApiError::TooLarge(format!(
            "Event {i} is over the max size: Max {MAX_EVENT_BYTES} bytes / Size {size} bytes"
        )));
    }
    let bad = |msg: String| ApiError::BadRequest(format!("event {i}: {msg}"));
    let Value::Object(mut obj) = serde_json::from_str::<Value>(raw.get()).map_err(malformed)? else {
        return Err(bad("must be a JSON object".into()));
    };
    let name = match obj.remove("name") {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => return Err(bad("\"name\" is required".into())),
        Some(_) => return Err(bad("\"name\" must be a string".into())),
    };
    let mut text = |key: &str| match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("\"{key}\" must be a string"))),
    };
    let (external_id, v) = (text("id")?, text("v")?);
    let ts = match obj.remove("ts") {
        None | Some(Value::Null) => None,
        // A number that is no i64 (a fraction, or too large) is out of the rules' range: they name the range.
        Some(Value::Number(n)) => Some(n.as_i64().unwrap_or(i64::MIN)),
        Some(_) => return Err(bad("\"ts\" must be an integer (milliseconds since the epoch)".into())),
    };
    let draft = Draft {
        name,
        data: obj.remove("data").unwrap_or(Value::Null),
        user: obj.remove("user").unwrap_or(Value::Null),
        external_id,
        ts,
        v,
    };
    rules::check(draft, Origin::Producer, now_ms).map_err(|invalid| bad(invalid.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000_000;

    fn parse(v: Value) -> Result<Vec<Valid>, ApiError> {
        parse_body(v.to_string().as_bytes(), NOW)
    }

    fn parse_body_at(body: &[u8]) -> Result<Vec<Valid>, ApiError> {
        parse_body(body, NOW)
    }

    fn err(v: Value) -> String {
        parse(v).unwrap_err().to_string()
    }

    #[test]
    fn single_and_array_with_defaults() {
        let one = parse(json!({"name": "a/b"})).unwrap();
        assert_eq!(one[0].data, json!({}));
        assert_eq!(one[0].user, json!({}));
        assert_eq!(
            (one[0].external_id.clone(), one[0].ts, one[0].v.clone()),
            (None, NOW, None)
        );
        let many = parse(json!([{"name": "a", "data": {"x": 1, "_inngest": {}}, "id": "e1", "ts": 1_700_000_000_000i64, "v": "1", "meta": {}}, {"name": "b"}])).unwrap();
        assert_eq!(many.len(), 2);
        assert_eq!(many[0].data, json!({"x": 1}), "data._inngest is stripped");
        assert_eq!(many[0].external_id.as_deref(), Some("e1"));
        assert!(parse(json!([])).unwrap().is_empty());
    }

    #[test]
    fn refuses_bad_events_with_clear_messages() {
        assert!(err(json!({"data": {}})).contains("\"name\" is required"));
        assert!(err(json!({"name": 5})).contains("\"name\" must be a string"));
        assert!(err(json!({"name": " "})).contains("must not be empty"));
        assert!(err(json!({"name": "Inngest/function.failed"})).contains("reserved"));
        assert!(err(json!({"name": "a", "data": [1]})).contains("\"data\" must be an object"));
        assert!(err(json!({"name": "a", "user": "x"})).contains("\"user\" must be an object"));
        assert!(err(json!({"name": "a", "id": 7})).contains("\"id\" must be a string"));
        assert!(err(json!({"name": "a", "ts": "now"})).contains("\"ts\" must be an integer"));
        assert!(err(json!({"name": "a", "ts": 5})).contains("between 1980 and 2100"));
        assert!(err(json!({"name": "a", "v": 2})).contains("\"v\" must be a string"));
        assert!(err(json!({"name": "a\u{0}"})).contains("\"name\" must not contain the NUL character"));
        assert!(err(json!({"name": "a", "id": "x\u{0}"})).contains("\"id\" must not contain the NUL"));
        assert!(err(json!({"name": "a", "v": "\u{0}"})).contains("\"v\" must not contain the NUL"));
        assert!(
            parse(json!({"name": "a", "data": {"s": "\u{0}"}})).is_ok(),
            "NUL in data is JSON-escaped"
        );
        assert!(err(json!([{"name": "a"}, 3])).contains("event 1: must be a JSON object"));
        assert!(
            parse_body_at(b"{\"name\": ")
                .unwrap_err()
                .to_string()
                .starts_with("Malformed JSON")
        );
        assert!(
            parse_body_at(b"hello")
                .unwrap_err()
                .to_string()
                .contains("event object or an array")
        );
        assert!(parse_body_at(b"").is_err());
    }

    #[test]
    fn limits() {
        let many: Vec<Value> = (0..=MAX_EVENTS).map(|_| json!({"name": "a"})).collect();
        assert!(err(Value::Array(many)).contains("Too many events: 5001"));
        let big = "x".repeat(MAX_EVENT_BYTES);
        assert!(matches!(
            parse(json!({"name": "a", "data": {"s": big}})),
            Err(ApiError::TooLarge(_))
        ));
    }
}
