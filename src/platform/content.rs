//! Content resources (cohorts, workshops, sections, lessons, events, event series, emails, ...) and their ordered
//! parent → child links.

use super::{Error, JsonText, Result, json_str, now};
use crate::store::Db;
use crate::store::schema::{
    content_resource_products as crp, content_resource_resources as crr, content_resources as cr,
};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// How deep [`get_resource_tree`] follows children (cohort → workshop → section → lesson → video is 4).
pub const MAX_TREE_DEPTH: usize = 6;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct ContentResource {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[diesel(deserialize_as = JsonText)]
    pub fields: Value,
    pub slug: Option<String>,
    pub organization_id: Option<String>,
    pub created_by_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl ContentResource {
    /// `fields.title`.
    pub fn title(&self) -> Option<&str> {
        json_str(&self.fields, "title")
    }
}

/// A child of a resource, with its place among its siblings and the link's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChildResource {
    pub position: f64,
    pub metadata: Value,
    pub resource: ContentResource,
}

/// A resource with its descendants, children ordered by position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceTree {
    pub resource: ContentResource,
    pub children: Vec<ResourceTree>,
}

impl ResourceTree {
    /// Every descendant, depth first in position order (not the root).
    pub fn descendants(&self) -> Vec<&ContentResource> {
        let mut out = Vec::new();
        for c in &self.children {
            out.push(&c.resource);
            out.extend(c.descendants());
        }
        out
    }
}

/// An event or an event series with its ordered children and the products it is sold through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventResource {
    pub resource: ContentResource,
    pub children: Vec<ChildResource>,
    pub product_ids: Vec<String>,
}

impl EventResource {
    pub fn is_series(&self) -> bool {
        self.resource.kind == "event-series"
    }
}

/// A new content resource (writers and the demo builders).
#[derive(Debug, Clone)]
pub struct NewContentResource<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub fields: Value,
    pub created_by_id: Option<&'a str>,
}

type ResourceColumns = (
    cr::id,
    cr::kind,
    cr::fields,
    cr::slug,
    cr::organization_id,
    cr::created_by_id,
    cr::created_at,
    cr::updated_at,
);
const RESOURCE_COLUMNS: ResourceColumns = (
    cr::id,
    cr::kind,
    cr::fields,
    cr::slug,
    cr::organization_id,
    cr::created_by_id,
    cr::created_at,
    cr::updated_at,
);

/// A live resource by id, or else by slug.
pub async fn get_content_resource(db: &Db, id_or_slug: &str) -> Result<Option<ContentResource>> {
    let rows: Vec<ContentResource> = crate::with_conn!(db, read, |c| {
        cr::table
            .filter(cr::id.eq(id_or_slug).or(cr::slug.eq(id_or_slug)))
            .filter(cr::deleted_at.is_null())
            .select(RESOURCE_COLUMNS)
            .order(cr::created_at)
            .load(c)
            .await?
    });
    let by_id = rows.iter().position(|r| r.id == id_or_slug);
    Ok(match by_id {
        Some(i) => rows.into_iter().nth(i),
        None => rows.into_iter().next(),
    })
}

/// A resource's live children, ordered by position (then id).
pub async fn get_children(db: &Db, parent_id: &str) -> Result<Vec<ChildResource>> {
    let rows: Vec<(f64, JsonText, ContentResource)> = crate::with_conn!(db, read, |c| {
        crr::table
            .inner_join(cr::table.on(cr::id.eq(crr::resource_id)))
            .filter(crr::resource_of_id.eq(parent_id))
            .filter(crr::deleted_at.is_null())
            .filter(cr::deleted_at.is_null())
            .order((crr::position, crr::resource_id))
            .select((crr::position, crr::metadata, RESOURCE_COLUMNS))
            .load(c)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|(position, metadata, resource)| ChildResource {
            position,
            metadata: metadata.0,
            resource,
        })
        .collect())
}

/// A resource with its descendants down to [`MAX_TREE_DEPTH`]; a resource reached twice (a cycle or a shared
/// child) is listed once.
pub async fn get_resource_tree(db: &Db, id_or_slug: &str) -> Result<Option<ResourceTree>> {
    let Some(root) = get_content_resource(db, id_or_slug).await? else {
        return Ok(None);
    };
    let mut seen = HashSet::from([root.id.clone()]);
    Ok(Some(build_tree(db, root, 0, &mut seen).await?))
}

async fn build_tree(
    db: &Db,
    resource: ContentResource,
    depth: usize,
    seen: &mut HashSet<String>,
) -> Result<ResourceTree> {
    let mut children = Vec::new();
    if depth < MAX_TREE_DEPTH {
        for child in get_children(db, &resource.id).await? {
            if seen.insert(child.resource.id.clone()) {
                children.push(Box::pin(build_tree(db, child.resource, depth + 1, seen)).await?);
            }
        }
    }
    Ok(ResourceTree { resource, children })
}

async fn tree_of_type(db: &Db, id_or_slug: &str, kind: &str) -> Result<Option<ResourceTree>> {
    Ok(get_resource_tree(db, id_or_slug)
        .await?
        .filter(|t| t.resource.kind == kind))
}

/// A cohort with its workshops (ordered) and their nested content. `None` if missing or not a cohort.
pub async fn get_cohort(db: &Db, id_or_slug: &str) -> Result<Option<ResourceTree>> {
    tree_of_type(db, id_or_slug, "cohort").await
}

/// A workshop with its nested content, whatever its visibility (the original hid private workshops from its
/// workflows, which then granted no access to them — reference §9.7). `None` if missing or not a workshop.
pub async fn get_workshop(db: &Db, id_or_slug: &str) -> Result<Option<ResourceTree>> {
    tree_of_type(db, id_or_slug, "workshop").await
}

/// The ids of the live products a resource is sold through, by position (then the oldest link first).
pub async fn product_ids_for_resource(db: &Db, resource_id: &str) -> Result<Vec<String>> {
    Ok(crate::with_conn!(db, read, |c| {
        crp::table
            .filter(crp::resource_id.eq(resource_id))
            .filter(crp::deleted_at.is_null())
            .order((crp::position, crp::created_at, crp::product_id))
            .select(crp::product_id)
            .load(c)
            .await?
    }))
}

/// An `event` or `event-series` by id or slug, with its ordered children and products. `None` if missing or of
/// another type; [`Error::Invalid`] if it has no title (the original's schema check).
pub async fn get_event_or_event_series(db: &Db, id_or_slug: &str) -> Result<Option<EventResource>> {
    let Some(resource) = get_content_resource(db, id_or_slug).await? else {
        return Ok(None);
    };
    if resource.kind != "event" && resource.kind != "event-series" {
        return Ok(None);
    }
    if resource.title().is_none_or(|t| t.trim().is_empty()) {
        return Err(Error::Invalid(format!(
            "{} {} has no title",
            resource.kind, resource.id
        )));
    }
    let children = get_children(db, &resource.id).await?;
    let product_ids = product_ids_for_resource(db, &resource.id).await?;
    Ok(Some(EventResource {
        resource,
        children,
        product_ids,
    }))
}

/// Creates a resource unless one with this id exists; `slug` mirrors `fields.slug`. Returns the stored row.
pub async fn ensure_content_resource(db: &Db, new: &NewContentResource<'_>) -> Result<ContentResource> {
    let t = now();
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(cr::table)
            .values((
                cr::id.eq(new.id),
                cr::kind.eq(new.kind),
                cr::fields.eq(new.fields.to_string()),
                cr::slug.eq(json_str(&new.fields, "slug")),
                cr::created_by_id.eq(new.created_by_id),
                cr::created_at.eq(t),
                cr::updated_at.eq(t),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    get_content_resource(db, new.id)
        .await?
        .ok_or_else(|| Error::not_found("content resource", new.id))
}

/// Links a child under a parent at a position (kept if the link exists).
pub async fn link_resources(db: &Db, parent_id: &str, child_id: &str, position: f64, metadata: &Value) -> Result<()> {
    let t = now();
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(crr::table)
            .values((
                crr::resource_of_id.eq(parent_id),
                crr::resource_id.eq(child_id),
                crr::position.eq(position),
                crr::metadata.eq(metadata.to_string()),
                crr::created_at.eq(t),
                crr::updated_at.eq(t),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    Ok(())
}

/// Sells a resource through a product (kept if the link exists).
pub async fn link_product_resource(db: &Db, product_id: &str, resource_id: &str, position: f64) -> Result<()> {
    let t = now();
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(crp::table)
            .values((
                crp::product_id.eq(product_id),
                crp::resource_id.eq(resource_id),
                crp::position.eq(position),
                crp::created_at.eq(t),
                crp::updated_at.eq(t),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    Ok(())
}

/// Merges keys into a resource's `fields` (e.g. the Google `calendarId`) and returns the updated resource. The
/// read-modify-write runs in one transaction; merging the same keys again changes nothing.
pub async fn merge_resource_fields(db: &Db, id: &str, patch: &Map<String, Value>) -> Result<ContentResource> {
    let id_owned = id.to_string();
    let patch = patch.clone();
    let updated: bool = crate::with_conn!(db, write, |c| {
        crate::write_tx!(c, Error, async |tx| {
            let current: Option<JsonText> = cr::table
                .filter(cr::id.eq(&id_owned))
                .filter(cr::deleted_at.is_null())
                .select(cr::fields)
                .first(tx)
                .await
                .optional()?;
            let Some(JsonText(mut fields)) = current else {
                return Ok(false);
            };
            let obj = fields
                .as_object_mut()
                .ok_or_else(|| Error::Invalid(format!("content resource {id_owned} has non-object fields")))?;
            for (k, v) in &patch {
                obj.insert(k.clone(), v.clone());
            }
            let slug = json_str(&fields, "slug").map(str::to_string);
            diesel::update(cr::table.filter(cr::id.eq(&id_owned)))
                .set((
                    cr::fields.eq(fields.to_string()),
                    cr::slug.eq(slug),
                    cr::updated_at.eq(now()),
                ))
                .execute(tx)
                .await?;
            Ok(true)
        })
        .await?
    });
    if !updated {
        return Err(Error::not_found("content resource", id));
    }
    get_content_resource(db, id)
        .await?
        .ok_or_else(|| Error::not_found("content resource", id))
}

/// An email scheduled relative to an event (`content_resource_resources.metadata.type == "event-reminder"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReminderLink {
    pub event: ContentResource,
    pub email: ContentResource,
    /// `metadata.hoursInAdvance`, if it is a number.
    pub hours_in_advance: Option<f64>,
}

/// Every live event-reminder link (parent = event, child = email), by event then position.
pub async fn event_reminder_links(db: &Db) -> Result<Vec<ReminderLink>> {
    let rows: Vec<(String, String, JsonText)> = crate::with_conn!(db, read, |c| {
        crr::table
            .filter(crr::deleted_at.is_null())
            .filter(crr::metadata.like("%event-reminder%"))
            .order((crr::resource_of_id, crr::position, crr::resource_id))
            .select((crr::resource_of_id, crr::resource_id, crr::metadata))
            .load(c)
            .await?
    });
    let mut out = Vec::new();
    for (event_id, email_id, JsonText(meta)) in rows {
        if json_str(&meta, "type") != Some("event-reminder") {
            continue;
        }
        let (Some(event), Some(email)) = (
            get_content_resource(db, &event_id).await?,
            get_content_resource(db, &email_id).await?,
        ) else {
            continue;
        };
        out.push(ReminderLink {
            event,
            email,
            hours_in_advance: meta.get("hoursInAdvance").and_then(Value::as_f64),
        });
    }
    Ok(out)
}

/// A resource's live parents of one type (e.g. the `event-series` an event belongs to), by id.
pub async fn get_parents_of_type(db: &Db, child_id: &str, kind: &str) -> Result<Vec<ContentResource>> {
    Ok(crate::with_conn!(db, read, |c| {
        crr::table
            .inner_join(cr::table.on(cr::id.eq(crr::resource_of_id)))
            .filter(crr::resource_id.eq(child_id))
            .filter(crr::deleted_at.is_null())
            .filter(cr::deleted_at.is_null())
            .filter(cr::kind.eq(kind))
            .order(cr::id)
            .select(RESOURCE_COLUMNS)
            .load(c)
            .await?
    }))
}
