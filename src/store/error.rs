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
    /// A run status write the lifecycle does not allow (`runs::status`, the one door for run state).
    #[error("refused run status write: {0}")]
    Door(#[from] super::runs::status::DoorError),
}

impl Error {
    pub fn pool(e: impl std::fmt::Display) -> Self {
        Error::Pool(e.to_string())
    }

    /// Whether trying again later can succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Error::Data(_) | Error::Migration(_) | Error::Door(_))
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Data(m) => StoreError::Data(m),
            e @ Error::Door(_) => StoreError::Data(e.to_string()),
            other => StoreError::Database(other.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
