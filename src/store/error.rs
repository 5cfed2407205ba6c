//! Storage errors, classified: connection and query failures are retryable; bad stored data is not.

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
}

impl Error {
    pub fn pool(e: impl std::fmt::Display) -> Self {
        Error::Pool(e.to_string())
    }

    /// Whether trying again later can succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Error::Data(_) | Error::Migration(_))
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Data(m) => StoreError::Data(m),
            other => StoreError::Database(other.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
