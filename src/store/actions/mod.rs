//! Operator actions on runs and functions (issue 13): the audit ([`audit`]), reruns ([`rerun`]), replays of
//! stored events ([`replay`]) and paused functions ([`pauses`]). Cancelling changes run status and so lives in
//! `runs/cancel.rs`. Each action changes the database and records itself in one transaction; a refused action
//! (unknown run, a run still going, an unknown step) changes nothing.

pub mod audit;
pub mod pauses;
pub mod replay;
pub mod rerun;

/// Why an action was refused: the caller's input, not the database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
}

/// An action's failure: refused (nothing was written: the transaction rolled back), or the database failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

impl From<diesel::result::Error> for ActionError {
    fn from(e: diesel::result::Error) -> Self {
        ActionError::Store(e.into())
    }
}
