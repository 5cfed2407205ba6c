//! Organizations, memberships and membership roles (reference §6.1).
//!
//! Every user has a personal organization named `Personal (<email>)` in which they are `owner`; buyers are
//! `learner`s of the organization their purchase belongs to. Roles named here resolve to the organization's own
//! role row if it has one, else to the seeded global role (`owner`, `learner`, ... from the migrations), else an
//! organization-scoped role is created — so the web app's per-organization roles keep working.

use super::users::User;
use super::{Error, JsonText, Result, new_id, now};
use crate::store::schema::{
    organization_membership_roles as omr, organization_memberships as om, organizations, roles,
};
use crate::store::{Db, DbTx};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    pub name: Option<String>,
    #[diesel(deserialize_as = JsonText)]
    pub fields: Value,
    pub image: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub id: String,
    pub organization_id: String,
    pub user_id: String,
    pub invited_by_id: String,
    pub created_at: NaiveDateTime,
}

/// A user's organization together with their membership in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationMembership {
    pub organization: Organization,
    pub membership: Membership,
}

/// The result of ensuring a personal organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonalOrganization {
    pub organization: Organization,
    pub membership: Membership,
    pub was_created: bool,
}

/// A role a member holds in an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRole {
    pub organization_membership_id: String,
    pub role_id: String,
    pub role_name: String,
}

const ORG_COLUMNS: (
    organizations::id,
    organizations::name,
    organizations::fields,
    organizations::image,
    organizations::created_at,
) = (
    organizations::id,
    organizations::name,
    organizations::fields,
    organizations::image,
    organizations::created_at,
);
const MEMBERSHIP_COLUMNS: (
    om::id,
    om::organization_id,
    om::user_id,
    om::invited_by_id,
    om::created_at,
) = (
    om::id,
    om::organization_id,
    om::user_id,
    om::invited_by_id,
    om::created_at,
);

/// `Personal (<email>)`.
pub fn personal_organization_name(email: &str) -> String {
    format!("Personal ({email})")
}

pub async fn get_organization(db: &Db, id: &str) -> Result<Option<Organization>> {
    Ok(crate::with_conn!(db, read, |c| {
        organizations::table
            .filter(organizations::id.eq(id))
            .select(ORG_COLUMNS)
            .first(c)
            .await
            .optional()?
    }))
}

/// Creates an organization with this id unless it exists; returns it.
pub async fn ensure_organization(db: &Db, id: &str, name: &str) -> Result<Organization> {
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(organizations::table)
            .values((
                organizations::id.eq(id),
                organizations::name.eq(name),
                organizations::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    get_organization(db, id)
        .await?
        .ok_or_else(|| Error::not_found("organization", id))
}

/// The user's membership in an organization.
pub async fn get_membership(db: &Db, organization_id: &str, user_id: &str) -> Result<Option<Membership>> {
    crate::with_conn!(db, read, |c| get_membership_in(
        &mut DbTx::from(c),
        organization_id,
        user_id
    )
    .await)
}

/// [`get_membership`] on a given connection (a transactional step's).
pub async fn get_membership_in(tx: &mut DbTx<'_>, organization_id: &str, user_id: &str) -> Result<Option<Membership>> {
    Ok(crate::with_tx!(tx, |c| {
        om::table
            .filter(om::organization_id.eq(organization_id))
            .filter(om::user_id.eq(user_id))
            .select(MEMBERSHIP_COLUMNS)
            .first(c)
            .await
            .optional()?
    }))
}

/// All of a user's memberships with their organizations, oldest first.
pub async fn memberships_of_user(db: &Db, user_id: &str) -> Result<Vec<OrganizationMembership>> {
    let rows: Vec<(Membership, Organization)> = crate::with_conn!(db, read, |c| {
        om::table
            .inner_join(organizations::table)
            .filter(om::user_id.eq(user_id))
            .order((om::created_at, om::id))
            .select((MEMBERSHIP_COLUMNS, ORG_COLUMNS))
            .load(c)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|(membership, organization)| OrganizationMembership {
            organization,
            membership,
        })
        .collect())
}

/// The user's personal organization: the membership whose organization is named `Personal (<email>)`, else (as
/// the original does) their oldest membership, else `None`.
pub async fn get_personal_organization(db: &Db, user: &User) -> Result<Option<OrganizationMembership>> {
    if user.email.trim().is_empty() {
        return Err(Error::Invalid(format!("user {} has no email", user.id)));
    }
    let name = personal_organization_name(&user.email);
    let all = memberships_of_user(db, &user.id).await?;
    let named = all
        .iter()
        .position(|m| m.organization.name.as_deref() == Some(name.as_str()));
    Ok(match named {
        Some(i) => all.into_iter().nth(i),
        None => all.into_iter().next(),
    })
}

/// Adds a user to an organization (or finds their membership there). Idempotent: one membership per
/// (organization, user).
pub async fn add_member_to_organization(
    db: &Db,
    organization_id: &str,
    user_id: &str,
    invited_by_id: &str,
) -> Result<Membership> {
    if let Some(m) = get_membership(db, organization_id, user_id).await? {
        return Ok(m);
    }
    if get_organization(db, organization_id).await?.is_none() {
        return Err(Error::not_found("organization", organization_id));
    }
    let id = new_id("om");
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(om::table)
            .values((
                om::id.eq(&id),
                om::organization_id.eq(organization_id),
                om::user_id.eq(user_id),
                om::invited_by_id.eq(invited_by_id),
                om::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    get_membership(db, organization_id, user_id)
        .await?
        .ok_or_else(|| Error::not_found("organization membership", format!("{organization_id}/{user_id}")))
}

/// The role a name means in an organization: its own role row, else the global one, else a new
/// organization-scoped role.
async fn resolve_role(db: &Db, organization_id: &str, name: &str) -> Result<(String, String)> {
    let find = async |org: Option<&str>| -> Result<Option<(String, String)>> {
        Ok(crate::with_conn!(db, read, |c| {
            let q = roles::table
                .filter(roles::name.eq(name))
                .filter(roles::deleted_at.is_null())
                .select((roles::id, roles::name))
                .into_boxed();
            let q = match org {
                Some(o) => q.filter(roles::organization_id.eq(o)),
                None => q.filter(roles::organization_id.is_null()),
            };
            q.first(c).await.optional()?
        }))
    };
    if let Some(r) = find(Some(organization_id)).await? {
        return Ok(r);
    }
    if let Some(r) = find(None).await? {
        return Ok(r);
    }
    let id = new_id("role");
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(roles::table)
            .values((
                roles::id.eq(&id),
                roles::organization_id.eq(organization_id),
                roles::name.eq(name),
                roles::created_at.eq(now()),
                roles::updated_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    find(Some(organization_id))
        .await?
        .ok_or_else(|| Error::not_found("role", name))
}

/// Gives a member a role in their organization (`owner`, `learner`, ...). Idempotent; a role that was
/// deactivated or deleted is made live again.
pub async fn add_role_for_member(
    db: &Db,
    organization_id: &str,
    membership_id: &str,
    role_name: &str,
) -> Result<MemberRole> {
    let (role_id, role_name) = resolve_role(db, organization_id, role_name).await?;
    let t = now();
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(omr::table)
            .values((
                omr::organization_membership_id.eq(membership_id),
                omr::role_id.eq(&role_id),
                omr::organization_id.eq(organization_id),
                omr::active.eq(true),
                omr::created_at.eq(t),
                omr::updated_at.eq(t),
            ))
            .on_conflict((omr::organization_membership_id, omr::role_id))
            .do_update()
            .set((omr::active.eq(true), omr::deleted_at.eq(None::<NaiveDateTime>)))
            .execute(c)
            .await?
    });
    Ok(MemberRole {
        organization_membership_id: membership_id.to_string(),
        role_id,
        role_name,
    })
}

/// The names of a member's live roles, sorted.
pub async fn member_role_names(db: &Db, membership_id: &str) -> Result<Vec<String>> {
    crate::with_conn!(db, read, |c| member_role_names_in(&mut DbTx::from(c), membership_id)
        .await)
}

/// [`member_role_names`] on a given connection (a transactional step's).
pub async fn member_role_names_in(tx: &mut DbTx<'_>, membership_id: &str) -> Result<Vec<String>> {
    Ok(crate::with_tx!(tx, |c| {
        omr::table
            .inner_join(roles::table)
            .filter(omr::organization_membership_id.eq(membership_id))
            .filter(omr::active.eq(true))
            .filter(omr::deleted_at.is_null())
            .select(roles::name)
            .order(roles::name)
            .load(c)
            .await?
    }))
}

/// Finds the user's personal organization or creates it, with their membership and the `owner` role.
///
/// The created organization's id is derived from the user's id (`org_personal_<userId>`), so a step that
/// crashed half-way and runs again completes the same organization instead of creating a second one.
pub async fn ensure_personal_organization(db: &Db, user: &User) -> Result<PersonalOrganization> {
    if let Some(found) = get_personal_organization(db, user).await? {
        return Ok(PersonalOrganization {
            organization: found.organization,
            membership: found.membership,
            was_created: false,
        });
    }
    let organization = ensure_organization(
        db,
        &format!("org_personal_{}", user.id),
        &personal_organization_name(&user.email),
    )
    .await?;
    let membership = add_member_to_organization(db, &organization.id, &user.id, &user.id).await?;
    add_role_for_member(db, &organization.id, &membership.id, "owner").await?;
    Ok(PersonalOrganization {
        organization,
        membership,
        was_created: true,
    })
}

/// [`ensure_personal_organization`], then the `learner` role in it.
pub async fn ensure_personal_organization_with_learner_role(db: &Db, user: &User) -> Result<PersonalOrganization> {
    let personal = ensure_personal_organization(db, user).await?;
    add_role_for_member(db, &personal.organization.id, &personal.membership.id, "learner").await?;
    Ok(personal)
}

/// Removes a user's membership in an organization (and its roles), unless they hold the `owner` role there.
/// Returns whether a membership was removed. Entitlements that pointed at it keep their rows (the reference is
/// set to NULL).
pub async fn remove_member_unless_owner(db: &Db, organization_id: &str, user_id: &str) -> Result<bool> {
    crate::with_conn!(db, write, |c| remove_member_unless_owner_in(
        &mut DbTx::from(c),
        organization_id,
        user_id
    )
    .await)
}

/// [`remove_member_unless_owner`] on a given connection (a transactional step's).
pub async fn remove_member_unless_owner_in(tx: &mut DbTx<'_>, organization_id: &str, user_id: &str) -> Result<bool> {
    let Some(m) = get_membership_in(tx, organization_id, user_id).await? else {
        return Ok(false);
    };
    if member_role_names_in(tx, &m.id).await?.iter().any(|r| r == "owner") {
        return Ok(false);
    }
    let n = crate::with_tx!(tx, |c| {
        diesel::delete(omr::table.filter(omr::organization_membership_id.eq(&m.id)))
            .execute(c)
            .await?;
        diesel::delete(om::table.filter(om::id.eq(&m.id))).execute(c).await?
    });
    Ok(n == 1)
}
