//! Fixture builders: each creates one coherent piece of platform data with the ids the caller chooses, and
//! leaves it as it is if it exists. Used by `ingot seed demo` and by the integration tests.

use crate::platform::commerce::PurchaseStatus;
use crate::platform::commerce::products::{self, NewProduct, Product};
use crate::platform::commerce::purchases::{self, NewPurchase, Purchase};
use crate::platform::content::{self, ContentResource, NewContentResource};
use crate::platform::organizations::{self, PersonalOrganization};
use crate::platform::users::{self, NewAccount, User};
use crate::platform::{Error, Result, now};
use crate::store::Db;
use crate::store::schema::users as u;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

/// A user with this id and email, with their personal organization (owner). Existing users are kept.
pub async fn user(db: &Db, id: &str, email: &str, name: &str) -> Result<(User, PersonalOrganization)> {
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(u::table)
            .values((
                u::id.eq(id),
                u::email.eq(email),
                u::name.eq(name),
                u::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    let user = users::get_user(db, id)
        .await?
        .ok_or_else(|| Error::not_found("user", id))?;
    if user.email != email {
        return Err(Error::Invalid(format!("user {id} exists with another email")));
    }
    let org = organizations::ensure_personal_organization(db, &user).await?;
    Ok((user, org))
}

/// An OAuth account for a user (e.g. `discord` with the Discord user id).
pub async fn account(db: &Db, user_id: &str, provider: &str, provider_account_id: &str) -> Result<()> {
    users::link_account(
        db,
        &NewAccount {
            provider: provider.into(),
            provider_account_id: provider_account_id.into(),
            user_id: user_id.into(),
            access_token: Some(format!("demo-{provider}-token-{user_id}")),
            scope: Some("identify guilds.join email".into()),
            ..NewAccount::default()
        },
    )
    .await?;
    Ok(())
}

/// A content resource of a type with a title and slug (plus `extra` fields).
pub async fn resource(db: &Db, id: &str, kind: &str, title: &str, extra: Value) -> Result<ContentResource> {
    let mut fields = json!({"title": title, "slug": slugify(title), "state": "published", "visibility": "public"});
    if let (Some(f), Some(x)) = (fields.as_object_mut(), extra.as_object()) {
        f.extend(x.clone());
    }
    content::ensure_content_resource(
        db,
        &NewContentResource {
            id,
            kind,
            fields,
            created_by_id: None,
        },
    )
    .await
}

/// Links children under a parent in order (positions 0, 1, 2, ...).
pub async fn children(db: &Db, parent_id: &str, child_ids: &[&str]) -> Result<()> {
    for (i, child) in child_ids.iter().enumerate() {
        content::link_resources(db, parent_id, child, i as f64, &json!({})).await?;
    }
    Ok(())
}

/// A product of a type with a price and the resources it sells (in order).
pub async fn product(
    db: &Db,
    id: &str,
    kind: &str,
    name: &str,
    price_cents: i64,
    fields: Value,
    resource_ids: &[&str],
) -> Result<Product> {
    let mut f = json!({"slug": slugify(name)});
    if let (Some(o), Some(x)) = (f.as_object_mut(), fields.as_object()) {
        o.extend(x.clone());
    }
    let p = products::ensure_product(
        db,
        &NewProduct {
            id,
            name,
            kind,
            fields: f,
            quantity_available: -1,
        },
    )
    .await?;
    products::ensure_price(db, &format!("price_{id}"), id, price_cents).await?;
    for (i, r) in resource_ids.iter().enumerate() {
        products::add_resource_to_product(db, id, r, i as f64).await?;
    }
    Ok(p)
}

/// A purchase of a product by a user in a status.
pub async fn purchase(
    db: &Db,
    id: &str,
    user_id: &str,
    product_id: &str,
    status: PurchaseStatus,
    total_cents: i64,
) -> Result<Purchase> {
    purchases::ensure_purchase(
        db,
        &NewPurchase {
            id: id.into(),
            user_id: Some(user_id.into()),
            product_id: product_id.into(),
            status: Some(status),
            total_amount_cents: total_cents,
            ..NewPurchase::default()
        },
    )
    .await
}

/// A URL slug from a title: lowercase ASCII words joined by `-`.
pub fn slugify(title: &str) -> String {
    title
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}
