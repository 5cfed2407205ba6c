//! Paused functions (`function_pauses`). A paused function keeps receiving events and gets its runs as usual, but
//! the claim takes none of its runs (`NOT_PAUSED` in `runs/claim.rs`): they wait in the database — new runs
//! queued, sleepers and waiters past their time — until the function is resumed, and then run in their usual
//! order. A run already executing finishes its current attempt. The row survives restarts; every daemon sees it.

use super::audit::{self, Audit};
use crate::store::db::Db;
use crate::store::error::{Error, Result};
use crate::store::schema::function_pauses;
use crate::store::sql::{Param, Stmt, Tx};
use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use ingot_actors::time::rfc3339;
use serde_json::json;
use std::collections::BTreeMap;

/// The claim's (and the due-work poll's) guard: the run's function is not paused.
pub const NOT_PAUSED: &str = "NOT EXISTS (SELECT 1 FROM function_pauses fp WHERE fp.function_id = runs.function_id)";

#[derive(QueryableByName)]
struct Changed {
    #[diesel(sql_type = Text)]
    #[allow(dead_code)]
    function_id: String,
}

/// Pauses a function and records the action. False (nothing recorded) if it was paused already.
pub async fn pause(db: &Db, function_id: &str, audit: &Audit, now_ms: i64) -> Result<bool> {
    let mut s = Stmt::new(
        "INSERT INTO function_pauses (function_id, paused_at, paused_by) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING RETURNING function_id",
    );
    s.params = vec![
        Param::Text(function_id.into()),
        Param::BigInt(now_ms),
        Param::Text(audit.actor.clone()),
    ];
    change(db, s, audit, json!({"paused": true}), now_ms).await
}

/// Resumes a paused function and records the action. False (nothing recorded) if it was not paused.
pub async fn resume(db: &Db, function_id: &str, audit: &Audit, now_ms: i64) -> Result<bool> {
    let mut s = Stmt::new("DELETE FROM function_pauses WHERE function_id = $1 RETURNING function_id");
    s.params = vec![Param::Text(function_id.into())];
    change(db, s, audit, json!({"paused": false}), now_ms).await
}

async fn change(db: &Db, s: Stmt, audit: &Audit, result: serde_json::Value, now_ms: i64) -> Result<bool> {
    crate::with_conn!(db, write, |c| {
        crate::write_tx!(c, Error, async |tx| {
            if tx.rows::<Changed>(&s).await?.is_empty() {
                return Ok(false);
            }
            audit::record_in(tx, audit, &result, &[], now_ms).await?;
            Ok(true)
        })
        .await
    })
}

/// Paused functions: id → (when, by whom).
pub async fn paused(db: &Db) -> Result<BTreeMap<String, (String, String)>> {
    let rows: Vec<(String, i64, String)> = crate::with_conn!(db, read, |c| {
        function_pauses::table
            .select((
                function_pauses::function_id,
                function_pauses::paused_at,
                function_pauses::paused_by,
            ))
            .load(c)
            .await?
    });
    Ok(rows.into_iter().map(|(f, at, by)| (f, (rfc3339(at), by))).collect())
}
