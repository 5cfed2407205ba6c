//! Shortlinks and the signups and purchases attributed to them.

use super::{Error, Result, new_id, now};
use crate::store::Db;
use crate::store::schema::{shortlink_attributions as sa, shortlinks};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct Shortlink {
    pub id: String,
    pub slug: String,
    pub url: String,
}

/// A purchase attributed to a shortlink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseAttribution {
    pub shortlink_id: String,
    pub purchase_id: String,
    pub user_id: String,
    pub email: String,
    pub metadata: Value,
}

pub async fn get_shortlink_by_slug(db: &Db, slug: &str) -> Result<Option<Shortlink>> {
    Ok(crate::with_conn!(db, read, |c| {
        shortlinks::table
            .filter(shortlinks::slug.eq(slug))
            .select((shortlinks::id, shortlinks::slug, shortlinks::url))
            .first(c)
            .await
            .optional()?
    }))
}

/// Creates a shortlink unless its slug exists; returns the stored one.
pub async fn ensure_shortlink(db: &Db, id: &str, slug: &str, url: &str) -> Result<Shortlink> {
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(shortlinks::table)
            .values((
                shortlinks::id.eq(id),
                shortlinks::slug.eq(slug),
                shortlinks::url.eq(url),
                shortlinks::created_at.eq(now()),
                shortlinks::updated_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    get_shortlink_by_slug(db, slug)
        .await?
        .ok_or_else(|| Error::not_found("shortlink", slug))
}

/// Records that a purchase came through the shortlink with this slug. One attribution per purchase: recording it
/// again returns `false`. An unknown slug is [`Error::NotFound`].
pub async fn record_purchase_attribution(
    db: &Db,
    slug: &str,
    purchase_id: &str,
    user_id: &str,
    email: &str,
    metadata: &Value,
) -> Result<(PurchaseAttribution, bool)> {
    let link = get_shortlink_by_slug(db, slug)
        .await?
        .ok_or_else(|| Error::not_found("shortlink", slug))?;
    let n = crate::with_conn!(db, write, |c| {
        diesel::insert_into(sa::table)
            .values((
                sa::id.eq(new_id("sla")),
                sa::shortlink_id.eq(&link.id),
                sa::user_id.eq(user_id),
                sa::email.eq(email),
                sa::kind.eq("purchase"),
                sa::purchase_id.eq(purchase_id),
                sa::metadata.eq(metadata.to_string()),
                sa::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    Ok((
        PurchaseAttribution {
            shortlink_id: link.id,
            purchase_id: purchase_id.into(),
            user_id: user_id.into(),
            email: email.into(),
            metadata: metadata.clone(),
        },
        n == 1,
    ))
}

/// How many attributions a shortlink has of a type (`signup` or `purchase`).
pub async fn count_attributions(db: &Db, shortlink_id: &str, kind: &str) -> Result<i64> {
    Ok(crate::with_conn!(db, read, |c| {
        sa::table
            .filter(sa::shortlink_id.eq(shortlink_id))
            .filter(sa::kind.eq(kind))
            .count()
            .get_result(c)
            .await?
    }))
}
