//! The video pipeline's links between resources: a lesson or post has at most one live video child.

use super::{Result, now};
use crate::platform::content::{ContentResource, get_content_resource};
use crate::store::Db;
use crate::store::schema::{content_resource_resources as crr, content_resources as cr};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// Soft-deletes the live link between `parent_id` and `child_id`; the number of links removed (0 when none).
pub async fn detach_child(db: &Db, parent_id: &str, child_id: &str) -> Result<usize> {
    Ok(crate::with_conn!(db, write, |c| {
        diesel::update(
            crr::table
                .filter(crr::resource_of_id.eq(parent_id))
                .filter(crr::resource_id.eq(child_id))
                .filter(crr::deleted_at.is_null()),
        )
        .set((crr::deleted_at.eq(Some(now())), crr::updated_at.eq(now())))
        .execute(c)
        .await?
    }))
}

/// Links `child_id` under `parent_id` at `position`; a soft-deleted link is revived. Safe to repeat.
pub async fn attach_child(db: &Db, parent_id: &str, child_id: &str, position: f64) -> Result<()> {
    let revived = crate::with_conn!(db, write, |c| {
        diesel::update(
            crr::table
                .filter(crr::resource_of_id.eq(parent_id))
                .filter(crr::resource_id.eq(child_id)),
        )
        .set((
            crr::deleted_at.eq(None::<chrono::NaiveDateTime>),
            crr::updated_at.eq(now()),
        ))
        .execute(c)
        .await?
    });
    if revived == 0 {
        super::content::link_resources(db, parent_id, child_id, position, &serde_json::json!({})).await?;
    }
    Ok(())
}

/// The live parents of `child_id` whose type is one of `kinds`, oldest link first.
pub async fn parents_of(db: &Db, child_id: &str, kinds: &[&str]) -> Result<Vec<ContentResource>> {
    let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
    let ids: Vec<String> = crate::with_conn!(db, read, |c| {
        crr::table
            .inner_join(cr::table.on(cr::id.eq(crr::resource_of_id)))
            .filter(crr::resource_id.eq(child_id))
            .filter(crr::deleted_at.is_null())
            .filter(cr::deleted_at.is_null())
            .filter(cr::kind.eq_any(kinds.clone()))
            .order((crr::created_at, crr::resource_of_id))
            .select(cr::id)
            .load(c)
            .await?
    });
    let mut out = Vec::new();
    for id in ids {
        if let Some(r) = get_content_resource(db, &id).await? {
            out.push(r);
        }
    }
    Ok(out)
}
