//! Entitlement types and entitlements: content access, Discord roles and special credits (reference §6.2).
//!
//! Entitlements are soft-deleted (`deleted_at`), never hard-deleted. "Live" means not deleted and not expired.
//! Metadata is JSON (`contentIds`, `discordRoleId`, `eligibilityProductId`, ...); queries on it narrow with SQL
//! and compare in Rust, so both backends answer the same.

use super::content::{ContentResource, ResourceTree};
use super::{Error, JsonText, Result, json_str, now};
use crate::platform::commerce::product_types::ProductType;
use crate::store::Db;
use crate::store::schema::{entitlement_types, entitlements as e};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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
    Ok(crate::with_conn!(db, read, |c| {
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
    let rows: Vec<Entitlement> = crate::with_conn!(db, read, |c| {
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
    Ok(crate::with_conn!(db, read, |c| {
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

/// Creates `new` unless the user already has a live entitlement of its type for which `same` holds; in one
/// write transaction (the check and the insert cannot interleave with another writer on SQLite). Returns the
/// live entitlement (found or created) and whether it was created.
pub async fn ensure_live_entitlement(
    db: &Db,
    new: &NewEntitlement,
    same: impl Fn(&Entitlement) -> bool + Send + Sync,
) -> Result<(Entitlement, bool)> {
    let mut out = ensure_many(db, &new.user_id, &new.entitlement_type_id, vec![(new.clone(), &same)]).await?;
    Ok(out.remove(0))
}

type Same<'a> = &'a (dyn Fn(&Entitlement) -> bool + Send + Sync);

/// For each (new, same): the user's live entitlement of the type for which `same` holds, else `new` inserted.
async fn ensure_many(
    db: &Db,
    user_id: &str,
    type_id: &str,
    wanted: Vec<(NewEntitlement, Same<'_>)>,
) -> Result<Vec<(Entitlement, bool)>> {
    let t = now();
    let (user_id, type_id) = (user_id.to_string(), type_id.to_string());
    let wanted = &wanted;
    let inserted: Vec<(Entitlement, bool)> = crate::with_conn!(db, write, |c| {
        c.transaction::<_, Error, _>(async |tx| {
            let existing: Vec<Entitlement> = e::table
                .filter(e::user_id.eq(&user_id))
                .filter(e::entitlement_type_id.eq(&type_id))
                .filter(e::deleted_at.is_null())
                .select(COLUMNS)
                .order((e::created_at, e::id))
                .load(tx)
                .await?;
            let mut live: Vec<Entitlement> = existing.into_iter().filter(|x| x.is_live(t)).collect();
            let mut out = Vec::new();
            for (new, same) in wanted {
                if let Some(found) = live.iter().find(|x| same(x)) {
                    out.push((found.clone(), false));
                    continue;
                }
                let row = NewRow::from_new(new, t);
                diesel::insert_into(e::table).values(&row).execute(tx).await?;
                let created: Entitlement = e::table.filter(e::id.eq(&new.id)).select(COLUMNS).first(tx).await?;
                live.push(created.clone());
                out.push((created, true));
            }
            Ok(out)
        })
        .await?
    });
    Ok(inserted)
}

/// The resources a purchase of this type gives access to: for a cohort, every content descendant (its
/// workshops and, recursively, their sections and lessons); for a self-paced product, the workshop itself and
/// its content descendants. Media and email attachments are not granted.
pub fn resources_to_grant(product_type: ProductType, tree: &ResourceTree) -> Vec<&ContentResource> {
    let mut out = Vec::new();
    if product_type == ProductType::SelfPaced {
        out.push(&tree.resource);
    }
    out.extend(
        tree.descendants()
            .into_iter()
            .filter(|r| !NOT_CONTENT.contains(&r.kind.as_str())),
    );
    out
}

/// Gives `grant.user_id` a content-access entitlement (`metadata.contentIds = [resourceId]`, source the
/// purchase) for every resource [`resources_to_grant`] lists, skipping each resource the user already has a live
/// entitlement of that type for (whatever its source). Running it twice creates nothing the second time and
/// reports the same entitlements with `created: false`.
pub async fn create_resource_entitlements(
    db: &Db,
    product_type: ProductType,
    tree: &ResourceTree,
    grant: &Grant,
) -> Result<Vec<GrantedEntitlement>> {
    let resources = resources_to_grant(product_type, tree);
    let matchers: Vec<Box<dyn Fn(&Entitlement) -> bool + Send + Sync>> = resources
        .iter()
        .map(|r| {
            let id = r.id.clone();
            Box::new(move |x: &Entitlement| x.content_ids().contains(&id.as_str())) as Box<_>
        })
        .collect();
    let wanted = resources
        .iter()
        .zip(&matchers)
        .map(|(r, m)| {
            let new = NewEntitlement {
                id: format!("{}-{}", r.id, uuid::Uuid::now_v7()),
                entitlement_type_id: grant.content_access_type_id.clone(),
                user_id: grant.user_id.clone(),
                organization_id: grant.organization_id.clone(),
                organization_membership_id: grant.organization_membership_id.clone(),
                source_type: SourceType::Purchase,
                source_id: grant.purchase_id.clone(),
                metadata: json!({"contentIds": [r.id]}),
                expires_at: None,
            };
            (new, &**m as Same<'_>)
        })
        .collect();
    let done = ensure_many(db, &grant.user_id, &grant.content_access_type_id, wanted).await?;
    Ok(resources
        .iter()
        .zip(done)
        .map(|(r, (ent, created))| GrantedEntitlement {
            entitlement_id: ent.id,
            resource_id: r.id.clone(),
            resource_type: r.kind.clone(),
            resource_title: r.title().map(str::to_string),
            created,
        })
        .collect())
}

/// Gives the user a Discord-role entitlement (`metadata.discordRoleId`) from a purchase, unless they have a live
/// one of this type for the same role.
pub async fn ensure_discord_role_entitlement(
    db: &Db,
    grant: &Grant,
    discord_type_id: &str,
    resource_id: &str,
    discord_role_id: &str,
) -> Result<(Entitlement, bool)> {
    let new = NewEntitlement {
        id: format!("{resource_id}-discord-{}", uuid::Uuid::now_v7()),
        entitlement_type_id: discord_type_id.into(),
        user_id: grant.user_id.clone(),
        organization_id: grant.organization_id.clone(),
        organization_membership_id: grant.organization_membership_id.clone(),
        source_type: SourceType::Purchase,
        source_id: grant.purchase_id.clone(),
        metadata: json!({"discordRoleId": discord_role_id}),
        expires_at: None,
    };
    ensure_live_entitlement(db, &new, |x| {
        json_str(&x.metadata, "discordRoleId") == Some(discord_role_id)
    })
    .await
}

/// Gives the user a special credit from a coupon (`apply_special_credit`, source the coupon,
/// `metadata.eligibilityProductId`), unless they have a live one from that coupon.
pub async fn ensure_credit_entitlement(
    db: &Db,
    user_id: &str,
    organization_id: Option<&str>,
    organization_membership_id: Option<&str>,
    coupon_id: &str,
    eligibility_product_id: &str,
) -> Result<(Entitlement, bool)> {
    let ty = require_entitlement_type(db, APPLY_SPECIAL_CREDIT).await?;
    let new = NewEntitlement {
        id: format!("{coupon_id}-{}", uuid::Uuid::now_v7()),
        entitlement_type_id: ty.id,
        user_id: user_id.into(),
        organization_id: organization_id.map(str::to_string),
        organization_membership_id: organization_membership_id.map(str::to_string),
        source_type: SourceType::Coupon,
        source_id: coupon_id.into(),
        metadata: json!({"eligibilityProductId": eligibility_product_id}),
        expires_at: None,
    };
    ensure_live_entitlement(db, &new, |x| x.source_type == "COUPON" && x.source_id == coupon_id).await
}

mod revoke;
pub use revoke::*;
