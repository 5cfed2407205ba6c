//! Storage errors, classified: connection and query failures are retryable; bad stored data and values the
//! database refuses (data errors) are not.

use ingot_actors::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("database pool: {0}")]
    Pool(String),
    #[error("query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("bad stored data: {0}")]
    Data(String),
    /// A call did not finish within `INGOT_DB_TIMEOUT` (pool wait, or the whole call); retryable.
    #[error("the database did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// A run status write the lifecycle does not allow (`runs::status`, the one door for run state).
    #[error("refused run status write: {0}")]
    Door(#[from] super::runs::status::DoorError),
}

impl Error {
    pub fn pool(e: impl std::fmt::Display) -> Self {
        Error::Pool(e.to_string())
    }

    /// Whether trying again later can succeed: not for bad stored data, a failed migration, or a value the
    /// database refuses ([`Error::is_refused_value`]).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Error::Data(_) | Error::Migration(_) | Error::Door(_)) && !self.is_refused_value()
    }

    /// The database refused a value itself (PostgreSQL's SQLSTATE classes 22 "data exception" and 54 "program
    /// limit exceeded", SQLite's "too big"): the same statement fails the same way every time.
    pub fn is_refused_value(&self) -> bool {
        match self {
            Error::Query(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::Unknown, info)) => {
                refused_value_message(info.message())
            }
            _ => false,
        }
    }
}

/// Messages of data errors. diesel-async does not expose the SQLSTATE (only a few codes become an error kind), so
/// the class is recognised by PostgreSQL's and SQLite's own message texts (the server's `lc_messages` must be
/// English, the default; otherwise such errors stay retryable, as before).
fn refused_value_message(message: &str) -> bool {
    const DATA_ERRORS: &[&str] = &[
        "invalid byte sequence for encoding",  // 22021: NUL in text
        "unsupported unicode escape sequence", // 22P05: \u0000 in json
        "has no equivalent in encoding",       // 22P05
        "null character not permitted",        // 22P05
        "invalid input syntax",                // 22P02
        "value too long for type",             // 22001
        "out of range",                        // 22003, 22008
        "division by zero",                    // 22012
        "invalid escape",                      // 22025
        "index row size",                      // 54000: btree row over ~2.7 KB
        "index row requires",                  // 54000
        "exceeds btree",                       // 54000
        "exceeds the maximum",                 // 54000 (jsonb, arrays, tsvector)
        "string or blob too big",              // SQLite SQLITE_TOOBIG
        "too many sql variables",              // SQLite
    ];
    let m = message.to_ascii_lowercase();
    DATA_ERRORS.iter().any(|p| m.contains(p))
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Data(m) => StoreError::Data(m),
            e @ Error::Door(_) => StoreError::Data(e.to_string()),
            e if e.is_refused_value() => StoreError::Data(e.to_string()),
            other => StoreError::Database(other.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error as DieselError};

    fn db_error(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::Query(DieselError::DatabaseError(kind, Box::new(message.to_string())))
    }

    #[test]
    fn data_errors_are_not_retryable_and_outages_are() {
        for refused in [
            "invalid byte sequence for encoding \"UTF8\": 0x00",
            "index row size 2720 exceeds btree version 4 maximum 2704 for index \"idempotency_keys_pkey\"",
            "value too long for type character varying(10)",
            "string or blob too big",
        ] {
            let e = db_error(DatabaseErrorKind::Unknown, refused);
            assert!(!e.is_retryable() && e.is_refused_value(), "{refused}");
            assert!(matches!(StoreError::from(e), StoreError::Data(_)));
        }
        for transient in [
            "canceling statement due to statement timeout",
            "canceling statement due to lock timeout",
            "terminating connection due to administrator command",
            "database is locked",
        ] {
            let e = db_error(DatabaseErrorKind::Unknown, transient);
            assert!(e.is_retryable(), "{transient}");
        }
        assert!(db_error(DatabaseErrorKind::ClosedConnection, "invalid input syntax").is_retryable());
    }
}
