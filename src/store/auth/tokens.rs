//! `api_tokens`: create, find by id, list, revoke, and the (throttled) last-used time.

use super::schema::api_tokens as t;
use crate::store::{Db, Result};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

/// A token as stored. `secret_sha256` never leaves the process (not serialized).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Serialize)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub secret_sha256: String,
    pub read_only: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What `create` stores.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = t)]
pub struct NewToken<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub secret_sha256: &'a str,
    pub read_only: bool,
    pub created_at: i64,
}

/// Whether a new row was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Yes,
    /// The name (or, astronomically unlikely, the id) is taken. Revoked tokens keep their names.
    NameTaken,
}

pub async fn create(db: &Db, token: &NewToken<'_>) -> Result<Created> {
    let n = crate::with_conn!(db, write, |c| diesel::insert_into(t::table)
        .values(token)
        .on_conflict_do_nothing()
        .execute(c)
        .await?);
    Ok(if n == 1 { Created::Yes } else { Created::NameTaken })
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<TokenRow>> {
    crate::with_conn!(db, read, |c| Ok(t::table
        .filter(t::id.eq(id))
        .first::<TokenRow>(c)
        .await
        .optional()?))
}

/// Every token, oldest first.
pub async fn list(db: &Db) -> Result<Vec<TokenRow>> {
    crate::with_conn!(db, read, |c| Ok(t::table
        .order((t::created_at.asc(), t::name.asc()))
        .load::<TokenRow>(c)
        .await?))
}

/// Revokes the unrevoked token named `name`; false when there is none.
pub async fn revoke(db: &Db, name: &str, now_ms: i64) -> Result<bool> {
    let n = crate::with_conn!(db, write, |c| diesel::update(
        t::table.filter(t::name.eq(name)).filter(t::revoked_at.is_null())
    )
    .set(t::revoked_at.eq(now_ms))
    .execute(c)
    .await?);
    Ok(n == 1)
}

/// Records that the token was used at `now_ms` (callers throttle this: see `src/http/auth/tokens.rs`).
pub async fn touch(db: &Db, id: &str, now_ms: i64) -> Result<()> {
    crate::with_conn!(db, write, |c| diesel::update(t::table.filter(t::id.eq(id)))
        .set(t::last_used_at.eq(now_ms))
        .execute(c)
        .await?);
    Ok(())
}
