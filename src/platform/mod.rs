//! The course platform's data: typed async queries over a [`Db`](crate::store::Db), one module per domain area.
//! Workflows compose these; no SQL is written inside a workflow.
//!
//! Every function is safe to call again from a retried step: reads are plain, and every write is either
//! idempotent (an insert guarded by a unique key with `ON CONFLICT`, a find-or-create, an update to a fixed value)
//! or guarded (a soft delete only touches rows that are still live). Results are plain structs that serialize
//! with serde, so they can be step outputs. Errors are [`Error`]: a missing row is [`Error::NotFound`] (or `None`
//! from a `get_*`), distinguishable from a database failure ([`Error::Store`], retryable).

pub mod commerce;
pub mod communication;
pub mod content;
pub mod email_events;
pub mod entitlements;
pub mod organizations;
pub mod shortlinks;
pub mod users;
pub mod video; // video pipeline (issue 12)

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::deserialize::{FromSql, FromSqlRow};
use diesel::sql_types::Text;
use serde_json::Value;

/// What went wrong in a platform query.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A row the operation needs does not exist (e.g. the purchase to refund).
    #[error("{entity} not found: {key}")]
    NotFound { entity: &'static str, key: String },
    /// The arguments or the stored rows do not make sense together (e.g. an event resource without a title).
    #[error("{0}")]
    Invalid(String),
    /// The database failed or stored data does not parse.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        Error::Store(crate::store::Error::Query(e))
    }
}

impl Error {
    /// As a transactional step's error: a storage error keeps its class (a value the database refuses is fatal,
    /// `crate::store::tx_step::classify`); a missing row or invalid arguments stay retryable, as the workflows'
    /// `.retryable()` made them.
    pub fn into_step_error(self) -> ingot_actors::StepError {
        match self {
            Error::Store(e) => crate::store::tx_step::classify(e),
            other => ingot_actors::StepError::retryable(other.to_string()),
        }
    }

    pub fn not_found(entity: &'static str, key: impl Into<String>) -> Error {
        Error::NotFound {
            entity,
            key: key.into(),
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// Whether trying again later can succeed: database failures, yes; missing rows and bad input, no (a
    /// workflow that expects a row to appear later may still choose to retry a [`Error::NotFound`]).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store(e) => e.is_retryable(),
            Error::NotFound { .. } | Error::Invalid(_) => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The current time as stored in platform tables: UTC, truncated to microseconds (PostgreSQL's precision), so a
/// value reads back equal on both backends.
pub fn now() -> NaiveDateTime {
    let t = chrono::Utc::now().naive_utc();
    chrono::DurationRound::duration_trunc(t, chrono::TimeDelta::microseconds(1)).unwrap_or(t)
}

/// A fresh id with a readable prefix, e.g. `purch_0193...`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7())
}

/// A JSON column (stored as TEXT) read into a [`serde_json::Value`]; used with `#[diesel(deserialize_as = JsonText)]`.
#[derive(Debug, Clone, FromSqlRow)]
pub struct JsonText(pub Value);

impl<DB: Backend> FromSql<Text, DB> for JsonText
where
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        let s = String::from_sql(bytes)?;
        Ok(JsonText(serde_json::from_str(&s)?))
    }
}

impl From<JsonText> for Value {
    fn from(j: JsonText) -> Value {
        j.0
    }
}

/// A JSON object's string field.
pub(crate) fn json_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}
