//! Users, their OAuth accounts and global roles.

use super::{Error, Result, new_id, now, organizations};
use crate::store::schema::{accounts, organization_memberships, roles, user_roles, users};
use crate::store::{Db, DbTx};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub name: Option<String>,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
pub struct Role {
    pub id: String,
    pub name: String,
}

/// An OAuth account linked to a user. Its tokens are not part of this struct (it is serialized into step
/// outputs); read them with [`get_account_access_token`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub provider: String,
    pub provider_account_id: String,
    pub user_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub scope: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserWithAccounts {
    #[serde(flatten)]
    pub user: User,
    pub accounts: Vec<Account>,
}

/// An OAuth access token. Never printed: `Debug` shows `***`.
#[derive(Clone, PartialEq)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

/// A new OAuth account (the builders and the account-linking flow write these). `Debug` hides the tokens.
#[derive(Clone, Default)]
pub struct NewAccount {
    pub provider: String,
    pub provider_account_id: String,
    pub user_id: String,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |t: &Option<String>| t.as_ref().map(|_| "***");
        f.debug_struct("NewAccount")
            .field("provider", &self.provider)
            .field("provider_account_id", &self.provider_account_id)
            .field("user_id", &self.user_id)
            .field("access_token", &hidden(&self.access_token))
            .field("refresh_token", &hidden(&self.refresh_token))
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

const USER_COLUMNS: (users::id, users::name, users::email) = (users::id, users::name, users::email);

pub async fn get_user(db: &Db, id: &str) -> Result<Option<User>> {
    crate::with_conn!(db, read, |c| get_user_in(&mut DbTx::from(c), id).await)
}

/// [`get_user`] on a given connection (a transactional step's).
pub async fn get_user_in(tx: &mut DbTx<'_>, id: &str) -> Result<Option<User>> {
    Ok(crate::with_tx!(tx, |c| {
        users::table
            .filter(users::id.eq(id))
            .select(USER_COLUMNS)
            .first(c)
            .await
            .optional()?
    }))
}

pub async fn get_user_by_email(db: &Db, email: &str) -> Result<Option<User>> {
    Ok(crate::with_conn!(db, read, |c| {
        users::table
            .filter(users::email.eq(email))
            .select(USER_COLUMNS)
            .first(c)
            .await
            .optional()?
    }))
}

/// A user with their OAuth accounts (ordered by provider).
pub async fn get_user_with_accounts(db: &Db, id: &str) -> Result<Option<UserWithAccounts>> {
    crate::with_conn!(db, read, |c| get_user_with_accounts_in(&mut DbTx::from(c), id).await)
}

/// [`get_user_with_accounts`] on a given connection (a read step's).
pub async fn get_user_with_accounts_in(tx: &mut DbTx<'_>, id: &str) -> Result<Option<UserWithAccounts>> {
    let Some(user) = get_user_in(tx, id).await? else {
        return Ok(None);
    };
    let accounts = accounts_in(tx, id, None).await?;
    Ok(Some(UserWithAccounts { user, accounts }))
}

/// The user's account with a provider (e.g. `discord`), if linked (and the user exists).
pub async fn get_account(db: &Db, user_id: &str, provider: &str) -> Result<Option<Account>> {
    crate::with_conn!(db, read, |c| get_account_in(&mut DbTx::from(c), user_id, provider)
        .await)
}

/// [`get_account`] on a given connection (a read or transactional step's).
pub async fn get_account_in(tx: &mut DbTx<'_>, user_id: &str, provider: &str) -> Result<Option<Account>> {
    if get_user_in(tx, user_id).await?.is_none() {
        return Ok(None);
    }
    Ok(accounts_in(tx, user_id, Some(provider)).await?.into_iter().next())
}

/// The user's accounts, with one provider or all, ordered by provider and account id.
async fn accounts_in(tx: &mut DbTx<'_>, user_id: &str, provider: Option<&str>) -> Result<Vec<Account>> {
    Ok(crate::with_tx!(tx, |c| {
        let mut q = accounts::table
            .filter(accounts::user_id.eq(user_id))
            .select((
                accounts::provider,
                accounts::provider_account_id,
                accounts::user_id,
                accounts::kind,
                accounts::scope,
            ))
            .order((accounts::provider, accounts::provider_account_id))
            .into_boxed();
        if let Some(provider) = provider {
            q = q.filter(accounts::provider.eq(provider));
        }
        q.load::<Account>(c).await?
    }))
}

/// The access token of the user's account with a provider, if linked and set.
pub async fn get_account_access_token(db: &Db, user_id: &str, provider: &str) -> Result<Option<AccessToken>> {
    let token: Option<Option<String>> = crate::with_conn!(db, read, |c| {
        accounts::table
            .filter(accounts::user_id.eq(user_id))
            .filter(accounts::provider.eq(provider))
            .select(accounts::access_token)
            .first(c)
            .await
            .optional()?
    });
    Ok(token.flatten().map(AccessToken))
}

/// Links an OAuth account; linking the same (provider, account id) again updates its tokens.
pub async fn link_account(db: &Db, a: &NewAccount) -> Result<Account> {
    if get_user(db, &a.user_id).await?.is_none() {
        return Err(Error::not_found("user", &a.user_id));
    }
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(accounts::table)
            .values((
                accounts::provider.eq(&a.provider),
                accounts::provider_account_id.eq(&a.provider_account_id),
                accounts::user_id.eq(&a.user_id),
                accounts::access_token.eq(&a.access_token),
                accounts::refresh_token.eq(&a.refresh_token),
                accounts::scope.eq(&a.scope),
                accounts::expires_at.eq(a.expires_at),
                accounts::created_at.eq(now()),
            ))
            .on_conflict((accounts::provider, accounts::provider_account_id))
            .do_update()
            .set((
                accounts::access_token.eq(&a.access_token),
                accounts::refresh_token.eq(&a.refresh_token),
                accounts::scope.eq(&a.scope),
                accounts::expires_at.eq(a.expires_at),
            ))
            .execute(c)
            .await?
    });
    get_account(db, &a.user_id, &a.provider)
        .await?
        .ok_or_else(|| Error::not_found("account", &a.provider_account_id))
}

/// Finds the user with this email or creates one (id `u_<uuid>`), and in both cases makes sure they have a
/// personal organization with the `owner` role, as the web app's `createUser` does — so a step that crashed
/// between creating the user and the organization completes the work when it runs again.
/// Returns the user and whether it was created now.
pub async fn find_or_create_user(db: &Db, email: &str, name: Option<&str>) -> Result<(User, bool)> {
    let email = email.trim();
    if email.is_empty() || !email.contains('@') {
        return Err(Error::Invalid(format!("not an email address: {email:?}")));
    }
    let id = new_id("u");
    let inserted = crate::with_conn!(db, write, |c| {
        diesel::insert_into(users::table)
            .values((
                users::id.eq(&id),
                users::email.eq(email),
                users::name.eq(name),
                users::created_at.eq(now()),
            ))
            .on_conflict(users::email)
            .do_nothing()
            .execute(c)
            .await?
    });
    let user = get_user_by_email(db, email)
        .await?
        .ok_or_else(|| Error::not_found("user", email))?;
    organizations::ensure_personal_organization(db, &user).await?;
    Ok((user, inserted == 1))
}

/// Users who belong to no organization, oldest first (the `create-user-organizations` backfill).
pub async fn users_without_organization(db: &Db, limit: i64) -> Result<Vec<User>> {
    Ok(crate::with_conn!(db, read, |c| {
        users::table
            .filter(diesel::dsl::not(diesel::dsl::exists(
                organization_memberships::table.filter(organization_memberships::user_id.eq(users::id)),
            )))
            .order((users::created_at, users::id))
            .limit(limit)
            .select(USER_COLUMNS)
            .load(c)
            .await?
    }))
}

/// [`users_without_organization`] after a cursor: only users that come after the user `after` in the
/// `(created_at, id)` order (all of them when `after` is `None` or no longer exists). The
/// `create-user-organizations` backfill pages with it, so a batch never repeats users the previous one handed out.
pub async fn users_without_organization_after(db: &Db, after: Option<&str>, limit: i64) -> Result<Vec<User>> {
    let cursor: Option<(chrono::NaiveDateTime, String)> = match after {
        None => None,
        Some(id) => crate::with_conn!(db, read, |c| {
            users::table
                .filter(users::id.eq(id))
                .select((users::created_at, users::id))
                .first(c)
                .await
                .optional()?
        }),
    };
    let Some((t, id)) = cursor else {
        return users_without_organization(db, limit).await;
    };
    Ok(crate::with_conn!(db, read, |c| {
        users::table
            .filter(diesel::dsl::not(diesel::dsl::exists(
                organization_memberships::table.filter(organization_memberships::user_id.eq(users::id)),
            )))
            .filter(
                users::created_at
                    .gt(t)
                    .or(users::created_at.eq(t).and(users::id.gt(&id))),
            )
            .order((users::created_at, users::id))
            .limit(limit)
            .select(USER_COLUMNS)
            .load(c)
            .await?
    }))
}

/// A seeded global role (`organization_id IS NULL`) by name, if it is not deleted.
pub async fn get_global_role(db: &Db, name: &str) -> Result<Option<Role>> {
    crate::with_conn!(db, read, |c| get_global_role_in(&mut DbTx::from(c), name).await)
}

/// [`get_global_role`] on a given connection (a transactional step's).
pub async fn get_global_role_in(tx: &mut DbTx<'_>, name: &str) -> Result<Option<Role>> {
    Ok(crate::with_tx!(tx, |c| {
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

/// Gives a user a role. Returns whether it was newly given (false: the user already had it). A link that was
/// soft-deleted (`deleted_at` set) counts as absent and is restored (active again); a link that is kept but
/// switched off (`active = false`, not deleted) is a deliberate decision and is left as it is.
pub async fn assign_role(db: &Db, user_id: &str, role_id: &str) -> Result<bool> {
    crate::with_conn!(db, write, |c| assign_role_in(&mut DbTx::from(c), user_id, role_id)
        .await)
}

/// [`assign_role`] on a given connection (a transactional step's).
pub async fn assign_role_in(tx: &mut DbTx<'_>, user_id: &str, role_id: &str) -> Result<bool> {
    let t = now();
    let inserted = crate::with_tx!(&mut *tx, |c| {
        diesel::insert_into(user_roles::table)
            .values((
                user_roles::user_id.eq(user_id),
                user_roles::role_id.eq(role_id),
                user_roles::created_at.eq(t),
                user_roles::updated_at.eq(t),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    if inserted == 1 {
        return Ok(true);
    }
    let restored = crate::with_tx!(tx, |c| {
        diesel::update(
            user_roles::table
                .filter(user_roles::user_id.eq(user_id))
                .filter(user_roles::role_id.eq(role_id))
                .filter(user_roles::deleted_at.is_not_null()),
        )
        .set((
            user_roles::deleted_at.eq(None::<chrono::NaiveDateTime>),
            user_roles::active.eq(true),
            user_roles::updated_at.eq(t),
        ))
        .execute(c)
        .await?
    });
    Ok(restored == 1)
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

/// Stores a magic-link verification token (Auth.js `verification_tokens`: the identifier is the email, the token
/// its hash). Storing the same pair again changes nothing.
pub async fn create_verification_token(
    db: &Db,
    identifier: &str,
    token_hash: &str,
    expires: chrono::NaiveDateTime,
) -> Result<bool> {
    use crate::store::schema::verification_tokens as vt;
    Ok(crate::with_conn!(db, write, |c| {
        diesel::insert_into(vt::table)
            .values((
                vt::identifier.eq(identifier),
                vt::token.eq(token_hash),
                vt::expires.eq(expires),
                vt::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    }) == 1)
}

/// Whether a verification token exists and has not expired.
pub async fn verification_token_is_valid(db: &Db, identifier: &str, token_hash: &str) -> Result<bool> {
    use crate::store::schema::verification_tokens as vt;
    let n: i64 = crate::with_conn!(db, read, |c| {
        vt::table
            .filter(vt::identifier.eq(identifier))
            .filter(vt::token.eq(token_hash))
            .filter(vt::expires.gt(now()))
            .count()
            .get_result(c)
            .await?
    });
    Ok(n > 0)
}
