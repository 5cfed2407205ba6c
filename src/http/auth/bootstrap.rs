//! The first start: with auth on and no credential ever created (no token, no user, no configured admin token),
//! the daemon creates the API token `admin`, shows it once in the log (a WARN line, so it shows at any log level)
//! and stores only its hash. Two daemons starting together on one database create one: the second insert finds
//! the name taken and shows nothing.

use super::tokens;
use crate::config::Config;
use crate::store::Db;
use crate::store::auth::tokens::{Created, NewToken, create};
use crate::store::auth::{any_active_credential, any_credential_ever};

/// The first start's token name.
pub const ADMIN: &str = "admin";

pub async fn at_start(db: &Db, config: &Config) -> crate::store::Result<()> {
    let auth = &config.auth;
    if !auth.enabled {
        tracing::warn!(
            "INGOT_AUTH=off: the read API, the actions and the dashboard answer anyone who can reach {} — \
             set INGOT_AUTH=on (the default) unless something else guards this port",
            config.listen
        );
        return Ok(());
    }
    if auth.admin_token_sha256.is_some() {
        tracing::info!("authentication on; an admin token is configured (INGOT_ADMIN_TOKEN_SHA256)");
        return Ok(());
    }
    if any_credential_ever(db).await? {
        if !any_active_credential(db).await? {
            tracing::warn!(
                "authentication is on but every token is revoked and no user exists: create one with \
                 `ingot token create --name NAME` or `ingot user create --name NAME`"
            );
        }
        return Ok(());
    }
    let g = tokens::generate();
    let stored = create(
        db,
        &NewToken {
            id: &g.id,
            name: ADMIN,
            secret_sha256: &g.secret_sha256,
            read_only: false,
            created_at: ingot_actors::time::now_ms(),
        },
    )
    .await?;
    if stored == Created::Yes {
        tracing::warn!(
            "FIRST START: created the API token `{ADMIN}` (full access). It is shown ONCE, here; only its hash is \
             stored. Use it as `Authorization: Bearer <token>`; more with `ingot token create`. ADMIN TOKEN: {}",
            g.token
        );
    }
    Ok(())
}
