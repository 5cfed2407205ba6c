//! The functions behind Inngest's loosely typed operators and its extra CEL functions.
//!
//! Loose operators (see [`super::rewrite`]):
//! - `+` concatenates when either side is a string and the other a string, number or boolean
//!   (`"pur_" + 150` is `"pur_150"`, `1.5 + "x"` is `"1.5x"`); numbers of different kinds are promoted
//!   (JSON's positive integers are `uint` in `cel`, so `event.data.amount + 1` works); anything else is the crate's
//!   own `+` (lists, durations, timestamps).
//! - `-`, `*`, `/`, `%` promote mixed numbers the same way.
//! - `==` / `!=` never fail: numbers compare by value across int/uint/double, a timestamp equals a number of
//!   milliseconds since the epoch, other mixed kinds are simply unequal.
//! - `<`, `<=`, `>`, `>=` compare numbers across kinds, timestamps with numbers (ms), strings, booleans, timestamps
//!   and durations; other mixed kinds are an evaluation error (so the condition does not match).
//! - `in` works on lists (loose `==` per element) and on maps (key presence, numbers across kinds).
//!
//! Extra functions: `lowercase(s)`, `uppercase(s)`, `json_parse(s)`, `date(x)` (RFC 3339 / `YYYY-MM-DD` string, or
//! a number of ms since the epoch), `now()`, `now_plus(d)`, `now_minus(d)` with `d` a duration string such as
//! `"30m"`, `"1h30m"`, `"2d"`, `"1w"` (units ms, s, m, h, d, w). `now` is the caller's clock, never the system's.

use cel::objects::{Key, Map};
use cel::{Context, ExecutionError, ResolveResult, Value};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use std::cmp::Ordering;
use std::sync::Arc;

/// Registers on `ctx` the function called `name`, if it is one of ours; `now_ms` is the evaluation's clock.
pub(super) fn register(ctx: &mut Context<'_, '_>, name: &str, now_ms: i64) {
    let added = match name {
        "@add" => ctx.add_function(name, |a: Value, b: Value| add(a, b)),
        "@sub" => ctx.add_function(name, |a: Value, b: Value| arith(a, b, |a, b| a - b)),
        "@mul" => ctx.add_function(name, |a: Value, b: Value| arith(a, b, |a, b| a * b)),
        "@div" => ctx.add_function(name, |a: Value, b: Value| arith(a, b, |a, b| a / b)),
        "@rem" => ctx.add_function(name, |a: Value, b: Value| arith(a, b, |a, b| a % b)),
        "@eq" => ctx.add_function(name, |a: Value, b: Value| loose_eq(&a, &b)),
        "@ne" => ctx.add_function(name, |a: Value, b: Value| !loose_eq(&a, &b)),
        "@lt" => ctx.add_function(name, |a: Value, b: Value| cmp("<", &a, &b).map(|o| o.is_lt())),
        "@le" => ctx.add_function(name, |a: Value, b: Value| cmp("<=", &a, &b).map(|o| o.is_le())),
        "@gt" => ctx.add_function(name, |a: Value, b: Value| cmp(">", &a, &b).map(|o| o.is_gt())),
        "@ge" => ctx.add_function(name, |a: Value, b: Value| cmp(">=", &a, &b).map(|o| o.is_ge())),
        "@in" => ctx.add_function(name, |a: Value, b: Value| contains(&a, &b)),
        "lowercase" => ctx.add_function(name, |s: Arc<String>| s.to_lowercase()),
        "uppercase" => ctx.add_function(name, |s: Arc<String>| s.to_uppercase()),
        "json_parse" => ctx.add_function(name, |s: Arc<String>| json_parse(&s)),
        "date" => ctx.add_function(name, |v: Value| date(&v)),
        "now" => ctx.add_function(name, move || timestamp("now", now_ms)),
        "now_plus" => ctx.add_function(name, move |d: Arc<String>| {
            timestamp("now_plus", now_ms.saturating_add(duration_ms("now_plus", &d)?))
        }),
        "now_minus" => ctx.add_function(name, move |d: Arc<String>| {
            timestamp("now_minus", now_ms.saturating_sub(duration_ms("now_minus", &d)?))
        }),
        _ => Ok(()),
    };
    // Our names do not collide with the standard library's overloads; a collision would be a programming error
    // caught by the tests (the function would be missing and every expression using it would not match).
    debug_assert!(added.is_ok(), "cannot register {name}");
}

/// The names [`register`] knows, besides the rewritten operators.
pub(super) const INNGEST_FUNCTIONS: [&str; 7] = [
    "lowercase",
    "uppercase",
    "json_parse",
    "date",
    "now",
    "now_plus",
    "now_minus",
];

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn add(a: Value, b: Value) -> ResolveResult {
    let concatenates = matches!(a, Value::String(_)) || matches!(b, Value::String(_));
    if let (true, Some(l), Some(r)) = (concatenates, text(&a), text(&b)) {
        return Ok(Value::String(Arc::new(l + &r)));
    }
    arith(a, b, |a, b| a + b)
}

/// Brings two numbers of different kinds to one kind (int if both fit, else double); other values pass unchanged.
fn promote(a: Value, b: Value) -> (Value, Value) {
    let as_int = |v: &Value| match v {
        Value::Int(i) => Some(*i),
        Value::UInt(u) => i64::try_from(*u).ok(),
        _ => None,
    };
    let as_float = |v: &Value| match v {
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    };
    match (&a, &b) {
        (Value::Int(_), Value::UInt(_)) | (Value::UInt(_), Value::Int(_)) => match (as_int(&a), as_int(&b)) {
            (Some(l), Some(r)) => (Value::Int(l), Value::Int(r)),
            _ => (a, b),
        },
        (Value::Float(_), Value::Int(_) | Value::UInt(_)) | (Value::Int(_) | Value::UInt(_), Value::Float(_)) => {
            match (as_float(&a), as_float(&b)) {
                (Some(l), Some(r)) => (Value::Float(l), Value::Float(r)),
                _ => (a, b),
            }
        }
        _ => (a, b),
    }
}

fn arith(a: Value, b: Value, op: fn(Value, Value) -> ResolveResult) -> ResolveResult {
    let (a, b) = promote(a, b);
    op(a, b)
}

fn millis(t: &DateTime<FixedOffset>) -> Value {
    Value::Int(t.timestamp_millis())
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Timestamp(t), n @ (Value::Int(_) | Value::UInt(_) | Value::Float(_)))
        | (n @ (Value::Int(_) | Value::UInt(_) | Value::Float(_)), Value::Timestamp(t)) => millis(t) == *n,
        _ => a == b,
    }
}

fn cmp(op: &str, a: &Value, b: &Value) -> Result<Ordering, ExecutionError> {
    let ordering = match (a, b) {
        (Value::Timestamp(t), n @ (Value::Int(_) | Value::UInt(_) | Value::Float(_))) => millis(t).partial_cmp(n),
        (n @ (Value::Int(_) | Value::UInt(_) | Value::Float(_)), Value::Timestamp(t)) => n.partial_cmp(&millis(t)),
        _ => a.partial_cmp(b),
    };
    ordering.ok_or_else(|| ExecutionError::function_error(op, format!("cannot compare {a:?} with {b:?}")))
}

fn contains(needle: &Value, haystack: &Value) -> ResolveResult {
    match haystack {
        Value::List(items) => Ok(Value::Bool(items.iter().any(|item| loose_eq(needle, item)))),
        Value::Map(Map { map }) => {
            let keys: Vec<Key> = match needle {
                Value::String(s) => vec![Key::String(s.clone())],
                Value::Bool(b) => vec![Key::Bool(*b)],
                Value::Int(i) => [Some(Key::Int(*i)), u64::try_from(*i).ok().map(Key::Uint)]
                    .into_iter()
                    .flatten()
                    .collect(),
                Value::UInt(u) => [Some(Key::Uint(*u)), i64::try_from(*u).ok().map(Key::Int)]
                    .into_iter()
                    .flatten()
                    .collect(),
                _ => Vec::new(),
            };
            Ok(Value::Bool(keys.iter().any(|k| map.contains_key(k))))
        }
        other => Err(ExecutionError::function_error(
            "in",
            format!("cannot look for a value in {other:?}"),
        )),
    }
}

fn json_parse(s: &str) -> ResolveResult {
    let json: serde_json::Value =
        serde_json::from_str(s).map_err(|e| ExecutionError::function_error("json_parse", e.to_string()))?;
    cel::to_value(json).map_err(|e| ExecutionError::function_error("json_parse", e.to_string()))
}

fn timestamp(function: &str, ms: i64) -> ResolveResult {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| Value::Timestamp(t.fixed_offset()))
        .ok_or_else(|| ExecutionError::function_error(function, format!("{ms} ms is out of range")))
}

fn date(v: &Value) -> ResolveResult {
    let parsed = match v {
        Value::Timestamp(t) => return Ok(Value::Timestamp(*t)),
        Value::Int(ms) => return timestamp("date", *ms),
        Value::UInt(ms) => return timestamp("date", i64::try_from(*ms).unwrap_or(i64::MAX)),
        Value::Float(ms) if ms.is_finite() => return timestamp("date", *ms as i64),
        Value::String(s) => DateTime::parse_from_rfc3339(s).ok().or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
                .ok()
                .or_else(|| {
                    NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                })
                .map(|t| t.and_utc().fixed_offset())
        }),
        _ => None,
    };
    parsed
        .map(Value::Timestamp)
        .ok_or_else(|| ExecutionError::function_error("date", format!("not a date: {v:?}")))
}

/// Parses a duration such as `30s`, `15m`, `1h30m`, `2d`, `1w`, `250ms` into milliseconds.
pub(super) fn duration_ms(function: &str, s: &str) -> Result<i64, ExecutionError> {
    let bad = || {
        ExecutionError::function_error(
            function,
            format!("not a duration: {s:?} (e.g. \"30m\", \"1h30m\", \"2d\")"),
        )
    };
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let amount: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = amount
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(total)
}
