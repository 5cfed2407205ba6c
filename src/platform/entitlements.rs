//! Entitlement types and entitlements: content access, Discord roles and special credits (reference §6.2).
//!
//! Entitlements are soft-deleted (`deleted_at`), never hard-deleted. "Live" means not deleted and not expired.
//! Metadata is JSON (`contentIds`, `discordRoleId`, `eligibilityProductId`, ...); queries on it narrow with SQL
//! and compare in Rust, so both backends answer the same.

use super::{Error, JsonText, Result, now};
use crate::store::schema::{entitlement_types, entitlements as e};
use crate::store::{Db, DbTx};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The entitlement type name of special credits.
pub const APPLY_SPECIAL_CREDIT: &str = "apply_special_credit";

/// Resource types that are not content a learner is given access to (media and email attachments); recursion
/// in [`create_resource_entitlements`] does not grant them.
const NOT_CONTENT: [&str; 6] = [
    "email",
    "videoResource",
    "imageResource",
    "raw-transcript",
    "prompt",
    "tip",
];

/// Where an entitlement comes from. Stored by name; the names are forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SourceType {
    Purchase,
    Subscription,
    Manual,
    Coupon,
}

impl SourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::Purchase => "PURCHASE",
            SourceType::Subscription => "SUBSCRIPTION",
            SourceType::Manual => "MANUAL",
            SourceType::Coupon => "COUPON",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct EntitlementType {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct Entitlement {
    pub id: String,
    pub entitlement_type_id: String,
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
    pub organization_membership_id: Option<String>,
    pub source_type: String,
    pub source_id: String,
    #[diesel(deserialize_as = JsonText)]
    pub metadata: Value,
    pub expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
}

impl Entitlement {
    pub fn is_live(&self, at: NaiveDateTime) -> bool {
        self.deleted_at.is_none() && self.expires_at.is_none_or(|x| x > at)
    }

    /// `metadata.contentIds`.
    pub fn content_ids(&self) -> Vec<&str> {
        self.metadata
            .get("contentIds")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
}

/// A new entitlement. Its id is the caller's: a retried step that passes the same id creates nothing twice.
#[derive(Debug, Clone)]
pub struct NewEntitlement {
    pub id: String,
    pub entitlement_type_id: String,
    pub user_id: String,
    pub organization_id: Option<String>,
    pub organization_membership_id: Option<String>,
    pub source_type: SourceType,
    pub source_id: String,
    pub metadata: Value,
    pub expires_at: Option<NaiveDateTime>,
}

/// Who receives the entitlements of a purchase, and of which content-access type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    pub user_id: String,
    pub purchase_id: String,
    pub organization_id: Option<String>,
    pub organization_membership_id: Option<String>,
    pub content_access_type_id: String,
}

/// One content-access entitlement [`create_resource_entitlements`] made sure of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantedEntitlement {
    pub entitlement_id: String,
    pub resource_id: String,
    pub resource_type: String,
    pub resource_title: Option<String>,
    /// False when a live entitlement for this resource already existed (it is reported, not duplicated).
    pub created: bool,
}

type Columns = (
    e::id,
    e::entitlement_type_id,
    e::user_id,
    e::organization_id,
    e::organization_membership_id,
    e::source_type,
    e::source_id,
    e::metadata,
    e::expires_at,
    e::created_at,
    e::deleted_at,
);
const COLUMNS: Columns = (
    e::id,
    e::entitlement_type_id,
    e::user_id,
    e::organization_id,
    e::organization_membership_id,
    e::source_type,
    e::source_id,
    e::metadata,
    e::expires_at,
    e::created_at,
    e::deleted_at,
);

pub async fn get_entitlement_type(db: &Db, name: &str) -> Result<Option<EntitlementType>> {
    crate::with_conn!(db, read, |c| get_entitlement_type_in(&mut DbTx::from(c), name).await)
}

/// [`get_entitlement_type`] on a given connection (a transactional step's).
pub async fn get_entitlement_type_in(tx: &mut DbTx<'_>, name: &str) -> Result<Option<EntitlementType>> {
    Ok(crate::with_tx!(tx, |c| {
        entitlement_types::table
            .filter(entitlement_types::name.eq(name))
            .select((
                entitlement_types::id,
                entitlement_types::name,
                entitlement_types::description,
            ))
            .first(c)
            .await
            .optional()?
    }))
}

/// [`get_entitlement_type`], missing = [`Error::NotFound`].
pub async fn require_entitlement_type(db: &Db, name: &str) -> Result<EntitlementType> {
    get_entitlement_type(db, name)
        .await?
        .ok_or_else(|| Error::not_found("entitlement type", name))
}

/// [`require_entitlement_type`] on a given connection (a transactional step's).
pub async fn require_entitlement_type_in(tx: &mut DbTx<'_>, name: &str) -> Result<EntitlementType> {
    get_entitlement_type_in(tx, name)
        .await?
        .ok_or_else(|| Error::not_found("entitlement type", name))
}

pub async fn get_entitlement(db: &Db, id: &str) -> Result<Option<Entitlement>> {
    Ok(crate::with_conn!(db, read, |c| {
        e::table
            .filter(e::id.eq(id))
            .select(COLUMNS)
            .first(c)
            .await
            .optional()?
    }))
}

/// A user's entitlements of the given types (all types if empty), oldest first; soft-deleted ones only if asked.
pub async fn entitlements_of_user(
    db: &Db,
    user_id: &str,
    type_ids: &[String],
    include_deleted: bool,
) -> Result<Vec<Entitlement>> {
    crate::with_conn!(db, read, |c| entitlements_of_user_in(
        &mut DbTx::from(c),
        user_id,
        type_ids,
        include_deleted
    )
    .await)
}

/// [`entitlements_of_user`] on a given connection (a transactional step's).
pub async fn entitlements_of_user_in(
    tx: &mut DbTx<'_>,
    user_id: &str,
    type_ids: &[String],
    include_deleted: bool,
) -> Result<Vec<Entitlement>> {
    let rows: Vec<Entitlement> = crate::with_tx!(tx, |c| {
        let mut q = e::table.filter(e::user_id.eq(user_id)).select(COLUMNS).into_boxed();
        if !type_ids.is_empty() {
            q = q.filter(e::entitlement_type_id.eq_any(type_ids));
        }
        if !include_deleted {
            q = q.filter(e::deleted_at.is_null());
        }
        q.order((e::created_at, e::id)).load(c).await?
    });
    let t = now();
    Ok(rows.into_iter().filter(|x| include_deleted || x.is_live(t)).collect())
}

/// The entitlements a source (a purchase, a coupon, ...) granted; soft-deleted ones only if asked.
pub async fn entitlements_of_source(
    db: &Db,
    source_type: SourceType,
    source_id: &str,
    include_deleted: bool,
) -> Result<Vec<Entitlement>> {
    crate::with_conn!(db, read, |c| entitlements_of_source_in(
        &mut DbTx::from(c),
        source_type,
        source_id,
        include_deleted
    )
    .await)
}

/// [`entitlements_of_source`] on a given connection (a read step's).
pub async fn entitlements_of_source_in(
    tx: &mut DbTx<'_>,
    source_type: SourceType,
    source_id: &str,
    include_deleted: bool,
) -> Result<Vec<Entitlement>> {
    Ok(crate::with_tx!(tx, |c| {
        let mut q = e::table
            .filter(e::source_type.eq(source_type.as_str()))
            .filter(e::source_id.eq(source_id))
            .select(COLUMNS)
            .into_boxed();
        if !include_deleted {
            q = q.filter(e::deleted_at.is_null());
        }
        q.order((e::created_at, e::id)).load(c).await?
    }))
}

/// The row [`NewEntitlement`] writes.
#[derive(Insertable)]
#[diesel(table_name = e)]
struct NewRow {
    id: String,
    entitlement_type_id: String,
    user_id: String,
    organization_id: Option<String>,
    organization_membership_id: Option<String>,
    source_type: &'static str,
    source_id: String,
    metadata: String,
    expires_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl NewRow {
    fn from_new(n: &NewEntitlement, t: NaiveDateTime) -> NewRow {
        NewRow {
            id: n.id.clone(),
            entitlement_type_id: n.entitlement_type_id.clone(),
            user_id: n.user_id.clone(),
            organization_id: n.organization_id.clone(),
            organization_membership_id: n.organization_membership_id.clone(),
            source_type: n.source_type.as_str(),
            source_id: n.source_id.clone(),
            metadata: n.metadata.to_string(),
            expires_at: n.expires_at,
            created_at: t,
            updated_at: t,
        }
    }
}

/// Creates an entitlement unless one with its id exists. Returns the stored row and whether it was created.
pub async fn create_entitlement(db: &Db, new: &NewEntitlement) -> Result<(Entitlement, bool)> {
    let row = NewRow::from_new(new, now());
    let n = crate::with_conn!(db, write, |c| {
        diesel::insert_into(e::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    let stored = get_entitlement(db, &new.id)
        .await?
        .ok_or_else(|| Error::not_found("entitlement", &new.id))?;
    Ok((stored, n == 1))
}

mod cohort;
mod grant;
mod revoke;
pub use cohort::*;
pub use grant::*;
pub use revoke::*;
