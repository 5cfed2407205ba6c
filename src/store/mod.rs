//! Storage: both backends behind one [`Db`] handle, the schema, migrations and every query the engine makes.
//!
//! - [`runs`] is the only module that writes run state (`runs.status`), always with guarded statements; its hot
//!   writes are group-committed by [`runs::writer`].
//! - [`events`] stores incoming events and the runs they start, in one transaction.
//! - [`read`] answers the read API.
//! - [`tx_step`] is the workflows' side of transactional steps (their work runs in the writer's transaction).

pub mod actions;
pub mod auth;
pub mod db;
pub mod error;
pub mod events;
pub mod isolate;
pub mod migrate;
pub mod nodes;
pub mod pg_tls;
pub mod read;
pub mod retention;
pub mod run_search;
pub mod runs;
pub mod schema;
pub mod sql;
pub mod sqlite_calls;
pub mod tx_step;
pub mod write_tx;

pub use db::{Backend, DatabaseUrl, Db, PoolOptions};
pub use error::{Error, Result};
pub use tx_step::DbTx;

/// Serializes JSON for a TEXT column.
pub(crate) fn to_json_text(v: &serde_json::Value) -> String {
    v.to_string()
}

/// Parses a TEXT column holding JSON.
pub(crate) fn from_json_text(s: &str) -> Result<serde_json::Value> {
    serde_json::from_str(s).map_err(|e| Error::Data(format!("stored JSON does not parse: {e}")))
}
