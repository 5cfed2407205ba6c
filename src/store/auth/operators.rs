//! `operators`: the dashboard's users (name and argon2 password hash).

use super::schema::operators as o;
use crate::store::{Db, Result};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct OperatorRow {
    pub id: String,
    pub name: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = o)]
pub struct NewOperator<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub created_at: i64,
}

/// Stores a new operator; false when the name is taken.
pub async fn create(db: &Db, operator: &NewOperator<'_>) -> Result<bool> {
    let n = crate::with_conn!(db, write, |c| diesel::insert_into(o::table)
        .values(operator)
        .on_conflict_do_nothing()
        .execute(c)
        .await?);
    Ok(n == 1)
}

pub async fn by_name(db: &Db, name: &str) -> Result<Option<OperatorRow>> {
    crate::with_conn!(db, read, |c| Ok(o::table
        .filter(o::name.eq(name))
        .first::<OperatorRow>(c)
        .await
        .optional()?))
}
