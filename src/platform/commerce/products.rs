//! Products, their prices and the content they sell.

use crate::platform::content::{self, ContentResource};
use crate::platform::{Error, JsonText, Result, json_str, now};
use crate::store::schema::{content_resource_products as crp, content_resources as cr, prices, products};
use crate::store::{Db, DbTx};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: String,
    pub organization_id: Option<String>,
    pub name: String,
    /// `self-paced`, `live`, `membership` or `cohort`.
    #[serde(rename = "type")]
    pub kind: String,
    #[diesel(deserialize_as = JsonText)]
    pub fields: Value,
    /// 1 = active.
    pub status: i32,
    /// -1 = unlimited.
    pub quantity_available: i32,
    pub created_at: NaiveDateTime,
}

impl Product {
    /// `fields.discordRoleId`, if set.
    pub fn discord_role_id(&self) -> Option<&str> {
        json_str(&self.fields, "discordRoleId").filter(|s| !s.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct Price {
    pub id: String,
    pub product_id: String,
    pub nickname: Option<String>,
    pub status: i32,
    pub unit_amount_cents: i64,
}

/// A resource a product sells, at its position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductResource {
    pub position: f64,
    pub resource: ContentResource,
}

/// A product with its price and the resources it sells (ordered by position).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductWithResources {
    pub product: Product,
    pub price: Option<Price>,
    pub resources: Vec<ProductResource>,
}

/// A new product (the demo builders and tests).
#[derive(Debug, Clone)]
pub struct NewProduct<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub fields: Value,
    pub quantity_available: i32,
}

pub(crate) type ProductColumns = (
    products::id,
    products::organization_id,
    products::name,
    products::kind,
    products::fields,
    products::status,
    products::quantity_available,
    products::created_at,
);
pub(crate) const PRODUCT_COLUMNS: ProductColumns = (
    products::id,
    products::organization_id,
    products::name,
    products::kind,
    products::fields,
    products::status,
    products::quantity_available,
    products::created_at,
);

/// A product by id, or else by `fields.slug`.
pub async fn get_product_row(db: &Db, id_or_slug: &str) -> Result<Option<Product>> {
    crate::with_conn!(db, read, |c| get_product_row_in(&mut DbTx::from(c), id_or_slug).await)
}

/// [`get_product_row`] on a given connection (a step's transaction).
pub async fn get_product_row_in(tx: &mut DbTx<'_>, id_or_slug: &str) -> Result<Option<Product>> {
    let by_id: Option<Product> = crate::with_tx!(tx, |c| {
        products::table
            .filter(products::id.eq(id_or_slug))
            .select(PRODUCT_COLUMNS)
            .first(c)
            .await
            .optional()?
    });
    if by_id.is_some() {
        return Ok(by_id);
    }
    // The slug lives in JSON: narrow with LIKE (portable), then compare exactly.
    let pattern = format!(
        "%{}%",
        id_or_slug.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
    );
    let candidates: Vec<Product> = crate::with_tx!(tx, |c| {
        products::table
            .filter(products::fields.like(&pattern).escape('\\'))
            .order(products::created_at)
            .select(PRODUCT_COLUMNS)
            .load(c)
            .await?
    });
    Ok(candidates
        .into_iter()
        .find(|p| json_str(&p.fields, "slug") == Some(id_or_slug)))
}

/// The product's active price (the newest if there are several).
pub async fn get_price_for_product(db: &Db, product_id: &str) -> Result<Option<Price>> {
    crate::with_conn!(db, read, |c| get_price_for_product_in(&mut DbTx::from(c), product_id)
        .await)
}

/// [`get_price_for_product`] on a given connection (a step's transaction).
pub async fn get_price_for_product_in(tx: &mut DbTx<'_>, product_id: &str) -> Result<Option<Price>> {
    Ok(crate::with_tx!(tx, |c| {
        prices::table
            .filter(prices::product_id.eq(product_id))
            .filter(prices::status.eq(1))
            .order((prices::created_at.desc(), prices::id.desc()))
            .select((
                prices::id,
                prices::product_id,
                prices::nickname,
                prices::status,
                prices::unit_amount_cents,
            ))
            .first(c)
            .await
            .optional()?
    }))
}

/// The live resources a product sells, by position.
pub async fn product_resources(db: &Db, product_id: &str) -> Result<Vec<ProductResource>> {
    crate::with_conn!(db, read, |c| product_resources_in(&mut DbTx::from(c), product_id).await)
}

/// [`product_resources`] on a given connection (a step's transaction).
pub async fn product_resources_in(tx: &mut DbTx<'_>, product_id: &str) -> Result<Vec<ProductResource>> {
    let rows: Vec<(f64, ContentResource)> = crate::with_tx!(tx, |c| {
        crp::table
            .inner_join(cr::table)
            .filter(crp::product_id.eq(product_id))
            .filter(crp::deleted_at.is_null())
            .filter(cr::deleted_at.is_null())
            .order((crp::position, crp::resource_id))
            .select((
                crp::position,
                (
                    cr::id,
                    cr::kind,
                    cr::fields,
                    cr::slug,
                    cr::organization_id,
                    cr::created_by_id,
                    cr::created_at,
                    cr::updated_at,
                ),
            ))
            .load(c)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|(position, resource)| ProductResource { position, resource })
        .collect())
}

/// A product (by id or slug) with its price and resources.
pub async fn get_product(db: &Db, id_or_slug: &str) -> Result<Option<ProductWithResources>> {
    crate::with_conn!(db, read, |c| get_product_in(&mut DbTx::from(c), id_or_slug).await)
}

/// [`get_product`] on a given connection (a step's transaction: one snapshot for the three reads in a read step).
pub async fn get_product_in(tx: &mut DbTx<'_>, id_or_slug: &str) -> Result<Option<ProductWithResources>> {
    let Some(product) = get_product_row_in(tx, id_or_slug).await? else {
        return Ok(None);
    };
    let price = get_price_for_product_in(tx, &product.id).await?;
    let resources = product_resources_in(tx, &product.id).await?;
    Ok(Some(ProductWithResources {
        product,
        price,
        resources,
    }))
}

/// Active products that sell a cohort (the daily workshop-access emails).
pub async fn cohort_products(db: &Db) -> Result<Vec<ProductWithResources>> {
    let ids: Vec<String> = crate::with_conn!(db, read, |c| {
        products::table
            .inner_join(crp::table.inner_join(cr::table))
            .filter(products::status.eq(1))
            .filter(cr::kind.eq("cohort"))
            .filter(crp::deleted_at.is_null())
            .filter(cr::deleted_at.is_null())
            .select(products::id)
            .distinct()
            .order(products::id)
            .load(c)
            .await?
    });
    let mut out = Vec::new();
    for id in ids {
        if let Some(p) = get_product(db, &id).await? {
            out.push(p);
        }
    }
    Ok(out)
}

/// Creates a product unless one with this id exists; returns it.
pub async fn ensure_product(db: &Db, new: &NewProduct<'_>) -> Result<Product> {
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(products::table)
            .values((
                products::id.eq(new.id),
                products::name.eq(new.name),
                products::kind.eq(new.kind),
                products::fields.eq(new.fields.to_string()),
                products::quantity_available.eq(new.quantity_available),
                products::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    get_product_row(db, new.id)
        .await?
        .ok_or_else(|| Error::not_found("product", new.id))
}

/// Creates a price unless one with this id exists.
pub async fn ensure_price(db: &Db, id: &str, product_id: &str, unit_amount_cents: i64) -> Result<()> {
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(prices::table)
            .values((
                prices::id.eq(id),
                prices::product_id.eq(product_id),
                prices::unit_amount_cents.eq(unit_amount_cents),
                prices::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    Ok(())
}

/// Sells a resource through a product (see [`content::link_product_resource`]).
pub async fn add_resource_to_product(db: &Db, product_id: &str, resource_id: &str, position: f64) -> Result<()> {
    content::link_product_resource(db, product_id, resource_id, position).await
}
