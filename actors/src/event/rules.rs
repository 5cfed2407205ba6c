//! The one rule set for an event, whoever produces it (the HTTP intake, webhooks, `send_event`, `invoke`, system
//! events, cron ticks). Pure: the caller passes the clock. Each producer reports a refusal its own way (400 for the
//! HTTP intake, a fatal step error for `send_event`), with the same message.
//!
//! - `name`: not blank, no NUL, at most [`MAX_NAME_LEN`] bytes; the `inngest/` prefix (any case) is reserved for
//!   [`Origin::System`].
//! - `data`, `user`: objects, `null` meaning `{}`. `data._inngest` is reserved for [`Origin::System`]: a producer's
//!   is stripped.
//! - `id` (the producer's dedupe id): empty means none; no NUL, at most [`MAX_ID_LEN`] bytes.
//! - `ts`: milliseconds since the epoch between 1980 and 2100; default now.
//! - `v`: no NUL.
//!
//! NUL is refused in text columns because PostgreSQL cannot store it; `data` and `user` are stored as JSON, where
//! it is escaped.

use serde_json::{Map, Value};

pub const MAX_NAME_LEN: usize = 512;
pub const MAX_ID_LEN: usize = 1_024;
pub const MIN_TS: i64 = 315_532_800_000; // 1980-01-01
pub const MAX_TS: i64 = 4_102_444_800_000; // 2100-01-01
/// The prefix of Inngest's own events (`inngest/function.finished`, `inngest/scheduled.timer`, …).
pub const RESERVED_PREFIX: &str = "inngest/";

/// Who produces an event. It decides one thing: whether the reserved names and `data._inngest` are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Anyone outside the engine: the HTTP intake, webhooks, a run's `send_event`.
    Producer,
    /// The engine itself: `invoke`, a run's end (`inngest/function.*`), cron ticks.
    System,
}

/// An event as a producer hands it in, before the rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Draft {
    pub name: String,
    pub data: Value,
    pub user: Value,
    /// The producer's dedupe id.
    pub external_id: Option<String>,
    pub ts: Option<i64>,
    pub v: Option<String>,
}

impl Draft {
    pub fn new(name: impl Into<String>, data: Value) -> Self {
        Draft {
            name: name.into(),
            data,
            ..Draft::default()
        }
    }
}

/// An event that passed the rules: `data` and `user` are objects, `ts` is set.
#[derive(Debug, Clone, PartialEq)]
pub struct Valid {
    pub name: String,
    pub data: Value,
    pub user: Value,
    pub external_id: Option<String>,
    pub ts: i64,
    pub v: Option<String>,
}

/// Why an event was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// Applies the rules (see the module docs).
pub fn check(d: Draft, origin: Origin, now_ms: i64) -> Result<Valid, Invalid> {
    let bad = |m: String| Err(Invalid(m));
    if d.name.trim().is_empty() {
        return bad("\"name\" must not be empty".into());
    }
    no_nul("name", &d.name)?;
    if d.name.len() > MAX_NAME_LEN {
        return bad(format!("\"name\" is longer than {MAX_NAME_LEN} bytes"));
    }
    if origin == Origin::Producer && is_reserved(&d.name) {
        return bad(format!(
            "event names starting with \"inngest/\" are reserved: {:?}",
            d.name
        ));
    }
    let mut data = object("data", d.data)?;
    if origin == Origin::Producer {
        data.remove("_inngest");
    }
    let user = object("user", d.user)?;
    let external_id = match d.external_id {
        Some(id) if id.is_empty() => None,
        Some(id) if id.len() > MAX_ID_LEN => return bad(format!("\"id\" is longer than {MAX_ID_LEN} bytes")),
        Some(id) => {
            no_nul("id", &id)?;
            Some(id)
        }
        None => None,
    };
    let ts = d.ts.unwrap_or(now_ms);
    if !(MIN_TS..=MAX_TS).contains(&ts) {
        return bad("\"ts\" must be milliseconds since the epoch between 1980 and 2100".into());
    }
    if let Some(v) = &d.v {
        no_nul("v", v)?;
    }
    Ok(Valid {
        name: d.name,
        data: Value::Object(data),
        user: Value::Object(user),
        external_id,
        ts,
        v: d.v,
    })
}

/// Whether `name` is under the reserved `inngest/` prefix, in any case.
pub fn is_reserved(name: &str) -> bool {
    name.get(..RESERVED_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(RESERVED_PREFIX))
}

/// Text columns cannot hold NUL on PostgreSQL; both backends refuse it alike.
pub fn no_nul(field: &str, value: &str) -> Result<(), Invalid> {
    if value.contains('\0') {
        return Err(Invalid(format!(
            "\"{field}\" must not contain the NUL character (\\u0000)"
        )));
    }
    Ok(())
}

fn object(field: &str, v: Value) -> Result<Map<String, Value>, Invalid> {
    match v {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m),
        _ => Err(Invalid(format!("\"{field}\" must be an object"))),
    }
}
