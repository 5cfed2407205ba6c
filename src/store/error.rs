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
    /// A `COMMIT` was sent and neither its success nor its failure came back within twice `INGOT_DB_TIMEOUT`
    /// (a connection that stopped answering): the transaction may or may not have landed. Retryable, since a
    /// producer's retry with the same ids is recorded as a duplicate if it did ([`super::Db::within`]).
    #[error("the database did not confirm a COMMIT within {0:?}; it may have been stored")]
    CommitInDoubt(std::time::Duration),
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
    /// limit exceeded", SQLite's "too big", and on both a `CHECK` or `NOT NULL` constraint): the same statement
    /// fails the same way every time.
    pub fn is_refused_value(&self) -> bool {
        use diesel::result::DatabaseErrorKind as Kind;
        match self {
            Error::Query(diesel::result::Error::DatabaseError(Kind::CheckViolation | Kind::NotNullViolation, _)) => {
                true
            }
            Error::Query(diesel::result::Error::DatabaseError(Kind::Unknown, info)) => {
                refused_value_message(info.message())
            }
            _ => false,
        }
    }

    /// The database failed, not one statement: it could not be reached, a pool wait or a call timed out, the
    /// connection closed, or the transaction lost to contention (a deadlock, a serialization failure, a lock or
    /// statement timeout, SQLite's busy database). Applying a smaller part of the work would fail the same way,
    /// so the group-commit writer does not split a batch that failed so ([`super::runs::writer`]).
    pub fn is_outage(&self) -> bool {
        use diesel::result::{DatabaseErrorKind as Kind, Error as Diesel};
        match self {
            Error::Connect(_) | Error::Pool(_) | Error::Timeout(_) | Error::CommitInDoubt(_) => true,
            Error::Query(Diesel::BrokenTransactionManager) => true,
            Error::Query(Diesel::DatabaseError(
                Kind::ClosedConnection | Kind::UnableToSendCommand | Kind::SerializationFailure,
                _,
            )) => true,
            Error::Query(Diesel::DatabaseError(_, info)) => contention_message(info.message()),
            _ => false,
        }
    }

    /// A copy of this error with the same class — variant, database error kind and message — for each write of a
    /// group-committed batch that one failure answers (diesel's errors are not `Clone`).
    pub fn duplicate(&self) -> Error {
        use diesel::result::Error as Diesel;
        match self {
            Error::Connect(m) => Error::Connect(m.clone()),
            Error::Pool(m) => Error::Pool(m.clone()),
            Error::Migration(m) => Error::Migration(m.clone()),
            Error::Data(m) => Error::Data(m.clone()),
            Error::Timeout(d) => Error::Timeout(*d),
            Error::CommitInDoubt(d) => Error::CommitInDoubt(*d),
            Error::Door(d) => Error::Door(d.clone()),
            Error::Query(Diesel::DatabaseError(kind, info)) => {
                Error::Query(Diesel::DatabaseError(*kind, Box::new(info.message().to_string())))
            }
            Error::Query(Diesel::BrokenTransactionManager) => Error::Query(Diesel::BrokenTransactionManager),
            // Not a database error (a query builder or (de)serialization failure): retryable, as the original.
            Error::Query(other) => Error::Query(Diesel::QueryBuilderError(other.to_string().into())),
        }
    }
}

/// Messages of failures that concern the database's state at that moment, not the statement's values: contention,
/// a server going away, a full disk (every write fails alike until space returns).
fn contention_message(message: &str) -> bool {
    const CONTENTION: &[&str] = &[
        "database is locked",         // SQLite SQLITE_BUSY after the busy timeout
        "database table is locked",   // SQLite SQLITE_LOCKED
        "deadlock detected",          // 40P01
        "could not serialize access", // 40001
        "statement timeout",          // 57014
        "lock timeout",               // 55P03
        "terminating connection",     // 57P01
        "the database system is",     // 57P03: starting up, shutting down
        "database or disk is full",   // SQLite SQLITE_FULL: the filesystem is full
        "disk i/o error",             // SQLite SQLITE_IOERR
        "no space left on device",    // 53100 disk_full (and ENOSPC in any message)
    ];
    let m = message.to_ascii_lowercase();
    CONTENTION.iter().any(|p| m.contains(p))
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
        let check = db_error(DatabaseErrorKind::CheckViolation, "CHECK constraint failed: status");
        assert!(check.is_refused_value() && !check.is_retryable());
    }

    #[test]
    fn outages_are_told_from_failures_of_one_statement() {
        for outage in [
            Error::Pool("timed out".into()),
            Error::Timeout(std::time::Duration::from_secs(1)),
            db_error(DatabaseErrorKind::ClosedConnection, "server closed the connection"),
            db_error(DatabaseErrorKind::SerializationFailure, "could not serialize access"),
            db_error(DatabaseErrorKind::Unknown, "database is locked"),
            db_error(DatabaseErrorKind::Unknown, "deadlock detected"),
            db_error(DatabaseErrorKind::Unknown, "database or disk is full"),
            db_error(
                DatabaseErrorKind::Unknown,
                "could not extend file \"base/16384/16385\": No space left on device",
            ),
        ] {
            assert!(outage.is_outage(), "{outage}");
        }
        for one_statement in [
            db_error(
                DatabaseErrorKind::Unknown,
                "invalid byte sequence for encoding \"UTF8\": 0x00",
            ),
            db_error(DatabaseErrorKind::CheckViolation, "CHECK constraint failed"),
            db_error(DatabaseErrorKind::UniqueViolation, "duplicate key"),
            Error::Data("bad".into()),
        ] {
            assert!(!one_statement.is_outage(), "{one_statement}");
        }
    }

    #[test]
    fn a_duplicate_keeps_the_class() {
        for e in [
            db_error(
                DatabaseErrorKind::Unknown,
                "invalid byte sequence for encoding \"UTF8\": 0x00",
            ),
            db_error(DatabaseErrorKind::CheckViolation, "CHECK constraint failed"),
            db_error(DatabaseErrorKind::ClosedConnection, "gone"),
            db_error(DatabaseErrorKind::Unknown, "database is locked"),
            Error::Pool("p".into()),
            Error::Data("d".into()),
            Error::Query(DieselError::NotFound),
        ] {
            let d = e.duplicate();
            assert_eq!(
                (d.is_retryable(), d.is_refused_value(), d.is_outage()),
                (e.is_retryable(), e.is_refused_value(), e.is_outage()),
                "{e}"
            );
            assert_eq!(StoreError::from(d), StoreError::from(e), "same class, same message");
        }
    }
}
