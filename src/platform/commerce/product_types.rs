//! The product-type configuration (reference §6.3) and `gather_resource_contexts`: which resources a purchase
//! gives access to, and with which entitlement types and Discord roles.

use super::products::{Product, ProductWithResources, get_product_row};
use crate::platform::content::{self};
use crate::platform::{Result, json_str};
use crate::store::Db;
use serde::{Deserialize, Serialize};

/// The product types that grant content access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProductType {
    #[serde(rename = "cohort")]
    Cohort,
    #[serde(rename = "self-paced")]
    SelfPaced,
}

/// What a product type grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductTypeConfig {
    pub product_type: ProductType,
    /// The resource type it sells (`cohort` or `workshop`).
    pub resource_type: &'static str,
    /// The entitlement type (name) for content access.
    pub content_access: &'static str,
    /// The entitlement type (name) for the Discord role.
    pub discord_role: &'static str,
    /// The event that asks for the Discord role.
    pub discord_event: &'static str,
    /// The setting naming the Discord role when the product has no `fields.discordRoleId`.
    pub discord_role_fallback_env: &'static str,
}

pub const COHORT: ProductTypeConfig = ProductTypeConfig {
    product_type: ProductType::Cohort,
    resource_type: "cohort",
    content_access: "cohort_content_access",
    discord_role: "cohort_discord_role",
    discord_event: "cohort/user-added",
    discord_role_fallback_env: "DISCORD_COHORT_001_ROLE_ID",
};

pub const SELF_PACED: ProductTypeConfig = ProductTypeConfig {
    product_type: ProductType::SelfPaced,
    resource_type: "workshop",
    content_access: "workshop_content_access",
    discord_role: "workshop_discord_role",
    discord_event: "workshop/user-added",
    discord_role_fallback_env: "DISCORD_PURCHASER_ROLE_ID",
};

impl ProductType {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductType::Cohort => "cohort",
            ProductType::SelfPaced => "self-paced",
        }
    }

    /// `cohort` / `self-paced`; other product types grant no content access.
    pub fn parse(s: &str) -> Option<ProductType> {
        match s {
            "cohort" => Some(ProductType::Cohort),
            "self-paced" => Some(ProductType::SelfPaced),
            _ => None,
        }
    }

    /// The product type that sells a resource type: cohort → cohort, workshop → self-paced.
    pub fn for_resource_type(resource_type: &str) -> Option<ProductType> {
        match resource_type {
            "cohort" => Some(ProductType::Cohort),
            "workshop" => Some(ProductType::SelfPaced),
            _ => None,
        }
    }

    pub fn config(self) -> &'static ProductTypeConfig {
        match self {
            ProductType::Cohort => &COHORT,
            ProductType::SelfPaced => &SELF_PACED,
        }
    }
}

/// One resource a purchase gives access to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceContext {
    pub resource_id: String,
    pub resource_type: String,
    pub product_type: ProductType,
    /// The product the resource itself is sold through (its first linked product other than the one bought, else
    /// the one bought), if any.
    pub product_for_resource: Option<Product>,
    /// For a cohort: `fields.startsAt` of its first child (position 0), as stored (ISO 8601); `None` = TBD.
    /// Formatting it for people (the original's `MMMM do, yyyy` in America/Los_Angeles) is the email's job.
    pub day_one_starts_at: Option<String>,
}

/// The contexts of a product's resources: each resource's product type is the type of the product it is itself
/// sold through (its first linked product other than the one bought — so a workshop inside a cohort bundle is
/// `self-paced`), else `purchased_type` if only the bought product sells it, else the type its resource type maps
/// to. Only cohorts and workshops give contexts; other resources (events, ...) are skipped.
///
/// Unlike the original (reference §9.6), the resource's own product and the cohort's day-one date are really
/// loaded, so they are not always null / TBD.
pub async fn gather_resource_contexts(
    db: &Db,
    product: &ProductWithResources,
    purchased_type: ProductType,
) -> Result<Vec<ResourceContext>> {
    let mut out = Vec::new();
    for pr in &product.resources {
        let resource = &pr.resource;
        if ProductType::for_resource_type(&resource.kind).is_none() {
            continue; // only cohorts and workshops are content a purchase grants
        }
        // The product the resource is sold through on its own (not the one bought), else the one bought.
        let linked = content::product_ids_for_resource(db, &resource.id).await?;
        let own_product = match linked.iter().find(|id| **id != product.product.id) {
            Some(id) => get_product_row(db, id).await?,
            None if linked.contains(&product.product.id) => Some(product.product.clone()),
            None => None,
        };
        let product_type = match &own_product {
            Some(p) if p.id == product.product.id => Some(purchased_type),
            Some(p) => ProductType::parse(&p.kind).or_else(|| ProductType::for_resource_type(&resource.kind)),
            None => ProductType::for_resource_type(&resource.kind),
        };
        let Some(product_type) = product_type else {
            continue;
        };
        let day_one_starts_at = if resource.kind == "cohort" {
            content::get_children(db, &resource.id)
                .await?
                .first()
                .and_then(|c| json_str(&c.resource.fields, "startsAt").map(str::to_string))
        } else {
            None
        };
        out.push(ResourceContext {
            resource_id: resource.id.clone(),
            resource_type: resource.kind.clone(),
            product_type,
            product_for_resource: own_product,
            day_one_starts_at,
        });
    }
    Ok(out)
}
