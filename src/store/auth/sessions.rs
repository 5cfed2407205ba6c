//! `operator_sessions`: signed-in dashboard sessions, found by the SHA-256 of the cookie's value.

use super::schema::{operator_sessions as s, operators as o};
use crate::store::{Db, Result};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = s)]
pub struct NewSession<'a> {
    pub id_sha256: &'a str,
    pub operator_id: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Stores a session, and drops every expired one (sessions are few; this keeps the table small).
pub async fn create(db: &Db, session: &NewSession<'_>) -> Result<()> {
    crate::with_conn!(db, write, |c| {
        diesel::delete(s::table.filter(s::expires_at.le(session.created_at)))
            .execute(c)
            .await?;
        diesel::insert_into(s::table).values(session).execute(c).await?;
        Ok(())
    })
}

/// The name of the operator signed in with this session, if it exists and has not expired at `now_ms`.
pub async fn operator_of(db: &Db, id_sha256: &str, now_ms: i64) -> Result<Option<String>> {
    crate::with_conn!(db, read, |c| Ok(s::table
        .inner_join(o::table)
        .filter(s::id_sha256.eq(id_sha256))
        .filter(s::expires_at.gt(now_ms))
        .select(o::name)
        .first::<String>(c)
        .await
        .optional()?))
}

/// Ends a session (logout); false when there was none.
pub async fn delete(db: &Db, id_sha256: &str) -> Result<bool> {
    let n = crate::with_conn!(db, write, |c| diesel::delete(
        s::table.filter(s::id_sha256.eq(id_sha256))
    )
    .execute(c)
    .await?);
    Ok(n == 1)
}
