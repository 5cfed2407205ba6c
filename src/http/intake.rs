//! Parsing and validating the body of `POST /e/{event_key}` (Inngest's event API): one event object or an array
//! of up to 5,000. Pure — nothing here touches the database. Any invalid event refuses the whole request.
//!
//! Fields: `name` (required, not under the reserved `inngest/` prefix), `data` (object, default `{}`, the
//! reserved `data._inngest` is stripped), `user` (object, default `{}`), `id` (the producer's dedupe id), `ts`
//! (ms since epoch, 1980–2100, default now), `v` (string). Other fields (such as `meta`) are ignored, so newer
//! SDKs keep working; a known field of the wrong type is an error.

use super::error::ApiError;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

pub const MAX_EVENTS: usize = 5_000;
pub const MAX_EVENT_BYTES: usize = 3 * 1024 * 1024;
pub const MAX_NAME_LEN: usize = 512;
pub const MAX_ID_LEN: usize = 1_024;
const MIN_TS: i64 = 315_532_800_000; // 1980-01-01
const MAX_TS: i64 = 4_102_444_800_000; // 2100-01-01

/// A valid event, before it gets our id.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
    pub name: String,
    pub data: Value,
    pub user: Value,
    pub external_id: Option<String>,
    pub ts: Option<i64>,
    pub v: Option<String>,
}

pub fn parse_body(body: &[u8]) -> Result<Vec<ParsedEvent>, ApiError> {
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
    raws.iter().enumerate().map(|(i, raw)| parse_event(i, raw)).collect()
}

fn malformed(e: serde_json::Error) -> ApiError {
    ApiError::BadRequest(format!("Malformed JSON: {e}"))
}

fn parse_event(i: usize, raw: &RawValue) -> Result<ParsedEvent, ApiError> {
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
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        None | Some(Value::Null) => return Err(bad("\"name\" is required".into())),
        Some(Value::String(_)) => return Err(bad("\"name\" must not be empty".into())),
        Some(_) => return Err(bad("\"name\" must be a string".into())),
    };
    no_nul("name", &name).map_err(bad)?;
    if name.len() > MAX_NAME_LEN {
        return Err(bad(format!("\"name\" is longer than {MAX_NAME_LEN} bytes")));
    }
    if name.to_ascii_lowercase().starts_with("inngest/") {
        return Err(bad(format!(
            "event names starting with \"inngest/\" are reserved: {name:?}"
        )));
    }
    let mut data = object_field(&mut obj, "data").map_err(bad)?;
    data.remove("_inngest");
    let user = object_field(&mut obj, "user").map_err(bad)?;
    let external_id = match obj.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s.len() > MAX_ID_LEN => {
            return Err(bad(format!("\"id\" is longer than {MAX_ID_LEN} bytes")));
        }
        Some(Value::String(s)) => Some(no_nul("id", &s).map(|_| s).map_err(bad)?),
        Some(_) => return Err(bad("\"id\" must be a string".into())),
    };
    let ts = match obj.remove("ts") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(t) if (MIN_TS..=MAX_TS).contains(&t) => Some(t),
            _ => {
                return Err(bad(
                    "\"ts\" must be milliseconds since the epoch between 1980 and 2100".into()
                ));
            }
        },
        Some(_) => return Err(bad("\"ts\" must be an integer (milliseconds since the epoch)".into())),
    };
    let v = match obj.remove("v") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(no_nul("v", &s).map(|_| s).map_err(bad)?),
        Some(_) => return Err(bad("\"v\" must be a string".into())),
    };
    Ok(ParsedEvent {
        name,
        data: Value::Object(data),
        user: Value::Object(user),
        external_id,
        ts,
        v,
    })
}

/// Text columns cannot hold NUL on PostgreSQL; both backends refuse it alike (`data` and `user` are stored as
/// JSON, where NUL is escaped, so they may hold it).
pub fn no_nul(field: &str, value: &str) -> Result<(), String> {
    if value.contains('\0') {
        return Err(format!("\"{field}\" must not contain the NUL character (\\u0000)"));
    }
    Ok(())
}

fn object_field(obj: &mut Map<String, Value>, key: &str) -> Result<Map<String, Value>, String> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(format!("\"{key}\" must be an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Vec<ParsedEvent>, ApiError> {
        parse_body(v.to_string().as_bytes())
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
            (None, None, None)
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
            parse_body(b"{\"name\": ")
                .unwrap_err()
                .to_string()
                .starts_with("Malformed JSON")
        );
        assert!(
            parse_body(b"hello")
                .unwrap_err()
                .to_string()
                .contains("event object or an array")
        );
        assert!(parse_body(b"").is_err());
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
