//! Communication channels, preference types and users' preferences.

use super::Result;
use crate::store::schema::{communication_channels, communication_preference_types, communication_preferences};
use crate::store::{Db, DbTx};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
pub struct Named {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct Preference {
    pub id: String,
    pub user_id: String,
    pub preference_type_id: String,
    pub channel_id: String,
    pub active: bool,
}

/// A global preference type (e.g. `Newsletter`) by name.
pub async fn get_preference_type(db: &Db, name: &str) -> Result<Option<Named>> {
    crate::with_conn!(db, read, |c| get_preference_type_in(&mut DbTx::from(c), name).await)
}

/// [`get_preference_type`] on a given connection (a transactional step's).
pub async fn get_preference_type_in(tx: &mut DbTx<'_>, name: &str) -> Result<Option<Named>> {
    Ok(crate::with_tx!(tx, |c| {
        communication_preference_types::table
            .filter(communication_preference_types::name.eq(name))
            .filter(communication_preference_types::organization_id.is_null())
            .filter(communication_preference_types::deleted_at.is_null())
            .select((communication_preference_types::id, communication_preference_types::name))
            .first(c)
            .await
            .optional()?
    }))
}

/// [`get_type_and_channel_in`] on a connection of its own.
pub async fn get_type_and_channel(db: &Db, type_name: &str, channel_name: &str) -> Result<Option<(Named, Named)>> {
    crate::with_conn!(db, read, |c| {
        get_type_and_channel_in(&mut DbTx::from(c), type_name, channel_name).await
    })
}

/// A global preference type and a global channel, by name, in one statement; `None` unless both exist. What
/// [`get_preference_type_in`] and [`get_channel_in`] answer together, one round trip fewer (`user-created` reads
/// both first, in every run).
pub async fn get_type_and_channel_in(
    tx: &mut DbTx<'_>,
    type_name: &str,
    channel_name: &str,
) -> Result<Option<(Named, Named)>> {
    use communication_channels as c;
    use communication_preference_types as t;
    Ok(crate::with_tx!(tx, |conn| {
        t::table
            .inner_join(
                c::table.on(c::name
                    .eq(channel_name)
                    .and(c::organization_id.is_null())
                    .and(c::deleted_at.is_null())),
            )
            .filter(t::name.eq(type_name))
            .filter(t::organization_id.is_null())
            .filter(t::deleted_at.is_null())
            .select(((t::id, t::name), (c::id, c::name)))
            .first(conn)
            .await
            .optional()?
    }))
}

/// A global channel (e.g. `Email`) by name.
pub async fn get_channel(db: &Db, name: &str) -> Result<Option<Named>> {
    crate::with_conn!(db, read, |c| get_channel_in(&mut DbTx::from(c), name).await)
}

/// [`get_channel`] on a given connection (a transactional step's).
pub async fn get_channel_in(tx: &mut DbTx<'_>, name: &str) -> Result<Option<Named>> {
    Ok(crate::with_tx!(tx, |c| {
        communication_channels::table
            .filter(communication_channels::name.eq(name))
            .filter(communication_channels::organization_id.is_null())
            .filter(communication_channels::deleted_at.is_null())
            .select((communication_channels::id, communication_channels::name))
            .first(c)
            .await
            .optional()?
    }))
}

pub async fn get_preference(db: &Db, user_id: &str, type_id: &str, channel_id: &str) -> Result<Option<Preference>> {
    crate::with_conn!(db, read, |c| {
        get_preference_in(&mut DbTx::from(c), user_id, type_id, channel_id).await
    })
}

/// [`get_preference`] on a given connection (a transactional step's).
pub async fn get_preference_in(
    tx: &mut DbTx<'_>,
    user_id: &str,
    type_id: &str,
    channel_id: &str,
) -> Result<Option<Preference>> {
    use communication_preferences as p;
    Ok(crate::with_tx!(tx, |c| {
        p::table
            .filter(p::user_id.eq(user_id))
            .filter(p::preference_type_id.eq(type_id))
            .filter(p::channel_id.eq(channel_id))
            .select((p::id, p::user_id, p::preference_type_id, p::channel_id, p::active))
            .first(c)
            .await
            .optional()?
    }))
}

/// Creates the user's active, opted-in preference for this type and channel unless one exists (in which case
/// it is left as it is: an unsubscribed user stays unsubscribed). A preference that was soft-deleted
/// (`deleted_at` set) counts as absent: it is restored, active and opted in now. Returns the preference and
/// whether it was new (or restored).
pub async fn ensure_active_preference(
    db: &Db,
    user_id: &str,
    type_id: &str,
    channel_id: &str,
) -> Result<(Preference, bool)> {
    crate::with_conn!(db, write, |c| {
        ensure_active_preference_in(&mut DbTx::from(c), user_id, type_id, channel_id).await
    })
}

/// [`ensure_active_preference`] on a given connection (a transactional step's).
pub async fn ensure_active_preference_in(
    tx: &mut DbTx<'_>,
    user_id: &str,
    type_id: &str,
    channel_id: &str,
) -> Result<(Preference, bool)> {
    use communication_preferences as p;
    let now = super::now();
    let id = uuid::Uuid::now_v7().to_string();
    let inserted = crate::with_tx!(&mut *tx, |c| {
        diesel::insert_into(p::table)
            .values((
                p::id.eq(&id),
                p::user_id.eq(user_id),
                p::preference_type_id.eq(type_id),
                p::channel_id.eq(channel_id),
                p::active.eq(true),
                p::opt_in_at.eq(now),
                p::created_at.eq(now),
                p::updated_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?
    });
    if inserted == 1 {
        // The row just inserted, as the look-up below would read it back (one statement fewer per new user).
        let pref = Preference {
            id,
            user_id: user_id.to_string(),
            preference_type_id: type_id.to_string(),
            channel_id: channel_id.to_string(),
            active: true,
        };
        return Ok((pref, true));
    }
    let restored = crate::with_tx!(&mut *tx, |c| {
        diesel::update(
            p::table
                .filter(p::user_id.eq(user_id))
                .filter(p::preference_type_id.eq(type_id))
                .filter(p::channel_id.eq(channel_id))
                .filter(p::deleted_at.is_not_null()),
        )
        .set((
            p::deleted_at.eq(None::<chrono::NaiveDateTime>),
            p::active.eq(true),
            p::opt_in_at.eq(now),
            p::opt_out_at.eq(None::<chrono::NaiveDateTime>),
            p::updated_at.eq(now),
        ))
        .execute(c)
        .await?
    });
    let pref = get_preference_in(tx, user_id, type_id, channel_id)
        .await?
        .ok_or_else(|| super::Error::not_found("preference", user_id))?;
    Ok((pref, restored == 1))
}

/// Turns a user's preference on (opted in now) or off (opted out now), e.g. from an unsubscribe link or an email
/// provider's bounce. Setting the state it is already in keeps its timestamps. `None` if the user has no such
/// preference.
pub async fn set_preference_active(
    db: &Db,
    user_id: &str,
    type_id: &str,
    channel_id: &str,
    active: bool,
) -> Result<Option<Preference>> {
    use communication_preferences as p;
    let now = super::now();
    crate::with_conn!(db, write, |c| {
        let target = p::table
            .filter(p::user_id.eq(user_id))
            .filter(p::preference_type_id.eq(type_id))
            .filter(p::channel_id.eq(channel_id))
            .filter(p::active.ne(active));
        if active {
            diesel::update(target)
                .set((p::active.eq(true), p::opt_in_at.eq(now), p::updated_at.eq(now)))
                .execute(c)
                .await?
        } else {
            diesel::update(target)
                .set((p::active.eq(false), p::opt_out_at.eq(now), p::updated_at.eq(now)))
                .execute(c)
                .await?
        }
    });
    get_preference(db, user_id, type_id, channel_id).await
}
