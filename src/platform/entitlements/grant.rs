//! Granting entitlements without duplicating live ones: content access over a resource tree (reference §6.2),
//! Discord roles and special credits.

use super::{
    APPLY_SPECIAL_CREDIT, COLUMNS, Entitlement, Grant, GrantedEntitlement, NOT_CONTENT, NewEntitlement, NewRow,
    SourceType, require_entitlement_type,
};
use crate::platform::commerce::product_types::ProductType;
use crate::platform::content::{ContentResource, ResourceTree};
use crate::platform::{Error, Result, json_str, now};
use crate::store::schema::entitlements as e;
use crate::store::{Db, DbTx};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;

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

type Matcher<'a> = dyn Fn(&Entitlement) -> bool + Send + Sync + 'a;
type Same<'a> = &'a Matcher<'a>;

/// For each (new, same): the user's live entitlement of the type for which `same` holds, else `new` inserted.
async fn ensure_many(
    db: &Db,
    user_id: &str,
    type_id: &str,
    wanted: Vec<(NewEntitlement, Same<'_>)>,
) -> Result<Vec<(Entitlement, bool)>> {
    crate::with_conn!(db, write, |c| ensure_many_in(
        &mut DbTx::from(c),
        user_id,
        type_id,
        wanted
    )
    .await)
}

/// [`ensure_many`] on a given connection: its own transaction, or a savepoint inside a transactional step's.
async fn ensure_many_in(
    tx: &mut DbTx<'_>,
    user_id: &str,
    type_id: &str,
    wanted: Vec<(NewEntitlement, Same<'_>)>,
) -> Result<Vec<(Entitlement, bool)>> {
    let t = now();
    let (user_id, type_id) = (user_id.to_string(), type_id.to_string());
    let wanted = &wanted;
    let inserted: Vec<(Entitlement, bool)> = crate::with_tx!(tx, |c| {
        crate::write_tx!(c, Error, async |tx| {
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
    crate::with_conn!(db, write, |c| create_resource_entitlements_in(
        &mut DbTx::from(c),
        product_type,
        tree,
        grant
    )
    .await)
}

/// [`create_resource_entitlements`] on a given connection (the post-purchase workflow's transactional step).
pub async fn create_resource_entitlements_in(
    tx: &mut DbTx<'_>,
    product_type: ProductType,
    tree: &ResourceTree,
    grant: &Grant,
) -> Result<Vec<GrantedEntitlement>> {
    let resources = resources_to_grant(product_type, tree);
    let matchers: Vec<Box<Matcher<'static>>> = resources
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
    let done = ensure_many_in(tx, &grant.user_id, &grant.content_access_type_id, wanted).await?;
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
/// one of this type for the same role. Of `grant`, the user, purchase and organization are used (its
/// content-access type is not: the type is `discord_type_id`).
pub async fn ensure_discord_role_entitlement(
    db: &Db,
    grant: &Grant,
    discord_type_id: &str,
    resource_id: &str,
    discord_role_id: &str,
) -> Result<(Entitlement, bool)> {
    crate::with_conn!(db, write, |c| ensure_discord_role_entitlement_in(
        &mut DbTx::from(c),
        grant,
        discord_type_id,
        resource_id,
        discord_role_id
    )
    .await)
}

/// [`ensure_discord_role_entitlement`] on a given connection (the post-purchase workflow's transactional step).
pub async fn ensure_discord_role_entitlement_in(
    tx: &mut DbTx<'_>,
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
    let same = |x: &Entitlement| json_str(&x.metadata, "discordRoleId") == Some(discord_role_id);
    let mut out = ensure_many_in(tx, &new.user_id, &new.entitlement_type_id, vec![(new.clone(), &same)]).await?;
    Ok(out.remove(0))
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

/// Moves the source user's live special credits for a product to the target user (a purchase transfer): in one
/// transaction each is soft-deleted and a copy (same coupon source and metadata) is created for the target in
/// their organization. Returns (old id, new id) pairs; a second call finds nothing live to move.
pub async fn transfer_credit_entitlements(
    db: &Db,
    source_user_id: &str,
    target_user_id: &str,
    product_id: &str,
    target_organization_id: Option<&str>,
    target_membership_id: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let ty = require_entitlement_type(db, APPLY_SPECIAL_CREDIT).await?;
    let t = now();
    let (source, target, product) = (
        source_user_id.to_string(),
        target_user_id.to_string(),
        product_id.to_string(),
    );
    let (org, membership) = (
        target_organization_id.map(str::to_string),
        target_membership_id.map(str::to_string),
    );
    Ok(crate::with_conn!(db, write, |c| {
        crate::write_tx!(c, Error, async |tx| {
            let credits: Vec<Entitlement> = e::table
                .filter(e::user_id.eq(&source))
                .filter(e::entitlement_type_id.eq(&ty.id))
                .filter(e::source_type.eq(SourceType::Coupon.as_str()))
                .filter(e::deleted_at.is_null())
                .select(COLUMNS)
                .load(tx)
                .await?;
            let mut moved = Vec::new();
            for old in credits
                .into_iter()
                .filter(|x| x.is_live(t) && json_str(&x.metadata, "eligibilityProductId") == Some(product.as_str()))
            {
                diesel::update(e::table.filter(e::id.eq(&old.id)))
                    .set((e::deleted_at.eq(t), e::updated_at.eq(t)))
                    .execute(tx)
                    .await?;
                let new = NewEntitlement {
                    id: format!("{}-{}", old.source_id, uuid::Uuid::now_v7()),
                    entitlement_type_id: ty.id.clone(),
                    user_id: target.clone(),
                    organization_id: org.clone(),
                    organization_membership_id: membership.clone(),
                    source_type: SourceType::Coupon,
                    source_id: old.source_id.clone(),
                    metadata: old.metadata.clone(),
                    expires_at: old.expires_at,
                };
                diesel::insert_into(e::table)
                    .values(&NewRow::from_new(&new, t))
                    .execute(tx)
                    .await?;
                moved.push((old.id, new.id));
            }
            Ok(moved)
        })
        .await?
    }))
}
