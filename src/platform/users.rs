//! Users and roles.

use crate::store::schema::{roles, user_roles, users};
use crate::store::{Db, Result};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub name: Option<String>,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Queryable)]
pub struct Role {
    pub id: String,
    pub name: String,
}

pub async fn get_user(db: &Db, id: &str) -> Result<Option<User>> {
    Ok(crate::with_conn!(db, read, |c| {
        users::table
            .filter(users::id.eq(id))
            .select((users::id, users::name, users::email))
            .first(c)
            .await
            .optional()?
    }))
}

/// A seeded global role (`organization_id IS NULL`) by name, if it is not deleted.
pub async fn get_global_role(db: &Db, name: &str) -> Result<Option<Role>> {
    Ok(crate::with_conn!(db, read, |c| {
        roles::table
            .filter(roles::name.eq(name))
            .filter(roles::organization_id.is_null())
            .filter(roles::deleted_at.is_null())
            .select((roles::id, roles::name))
            .first(c)
            .await
            .optional()?
    }))
}

/// Gives a user a role. Returns whether it was newly given (false: the user already had it).
pub async fn assign_role(db: &Db, user_id: &str, role_id: &str) -> Result<bool> {
    let n = crate::with_conn!(db, write, |c| {
        diesel::insert_into(user_roles::table)
            .values((user_roles::user_id.eq(user_id), user_roles::role_id.eq(role_id)))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    Ok(n == 1)
}

/// The names of a user's active roles.
pub async fn role_names(db: &Db, user_id: &str) -> Result<Vec<String>> {
    Ok(crate::with_conn!(db, read, |c| {
        user_roles::table
            .inner_join(roles::table)
            .filter(user_roles::user_id.eq(user_id))
            .filter(user_roles::active.eq(true))
            .filter(user_roles::deleted_at.is_null())
            .select(roles::name)
            .order(roles::name)
            .load(c)
            .await?
    }))
}
