//! `discord-account-linked` — a user linked their Discord account: add them to the guild and give them the
//! Discord roles their cohort purchases entitle them to, keeping every role they already have.
//!
//! Trigger `oauth/provider-account-linked` (and the original platform's `user/oauth-provider-account-linked`
//! and the design registry's `discord/account-linked`, see [`crate::functions::EVENT_ALIASES`]) if `event.data.account.provider == "discord"`. Reads `event.user.id` (else
//! `event.data.account.userId`) and `event.data.account.access_token` (else the token stored on the user's
//! Discord account). Steps, as the design document names them:
//! 1. "get user" — the user with their accounts and purchases; a missing user is retried (as in the original:
//!    the account link may be written just after the event).
//! 2. "get discord user" — `GET users/@me` with the user's OAuth token.
//! 3. "add user to discord" — bot `PUT guilds/{guild}/members/{discord user}` with `{access_token}`.
//! 4. sleep "give discord a moment" — 10 s.
//! 5. "check if discord is connected" — the user's `discord` account; none → returns
//!    `"no discord account found for user"`.
//! 6. "get discord member" — by the account's provider id.
//! 7. "get cohort discord role entitlement type" — `cohort_discord_role`.
//! 8. "get user discord entitlements" — the user's live (not deleted, not expired) entitlements of that type.
//!    The original also re-granted roles of soft-deleted (refunded) entitlements (reference §9.9); the spec
//!    decides: only roles from entitlements that are not deleted.
//! 9. "update basic discord roles for user" — if the user is a guild member: PATCH roles = their current roles
//!    followed by each entitled `metadata.discordRoleId` they lack. Roles are only ever added: manual roles stay.
//! 10. "reload discord member".
//!
//! The database lookups (1, 5, 7, 8) are read steps (`tx_step::read`: read-only, no commit of their own, recorded
//! with the next step's).
//!
//! Returns `{account, profile, user, discordMember}` like the original, except that the account's tokens are
//! left out of the stored output (it keeps provider, ids, type and scope).
//!
//! Crash safety: every Discord call is in its own memoized step; the sleep is durable; the PATCH sends the full
//! role list, so running it again (a crash before its result was stored) sets the same roles.

use crate::config::Secret;
use crate::functions::{Deps, event_triggers};
use crate::platform::commerce::purchases;
use crate::platform::{entitlements, json_str, users};
use crate::store::tx_step;
use ingot_actors::{FnError, FunctionDef, ResultExt, RunCtx, StepError};
use serde_json::{Map, Value, json};
use std::time::Duration;

pub const ID: &str = "discord-account-linked";
pub const EVENT: &str = "oauth/provider-account-linked";
pub const CONDITION: &str = r#"event.data.account.provider == "discord""#;
pub const NO_ACCOUNT: &str = "no discord account found for user";
/// How long Discord gets to process the new membership before roles are set.
pub const SETTLE: Duration = Duration::from_secs(10);
const ROLE_TYPE: &str = "cohort_discord_role";
/// OAuth columns of an Auth.js account that never go into a stored output.
const TOKEN_FIELDS: [&str; 6] = [
    "access_token",
    "refresh_token",
    "id_token",
    "oauth_token",
    "oauth_token_secret",
    "session_state",
];

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Discord Account Linked", move |ctx| run(deps.clone(), ctx));
    for t in event_triggers(EVENT, Some(CONDITION)) {
        def = def.trigger(t);
    }
    def.summary(
        "A linked Discord account joins the guild and, after 10 s, gets the roles of the user's live entitlements.",
    )
    .services(&["discord"])
}

/// The current roles followed by each entitled role the member lacks (order kept, no duplicates).
pub fn merge_roles(current: &[String], entitled: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(current.len() + entitled.len());
    for r in current.iter().chain(entitled) {
        if !r.is_empty() && !out.contains(r) {
            out.push(r.clone());
        }
    }
    out
}

/// The event's account without its tokens.
fn redacted_account(account: &Value) -> Value {
    match account.as_object() {
        Some(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !TOKEN_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Map<String, Value>>(),
        ),
        None => Value::Null,
    }
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let data = ctx.event.get("data").cloned().unwrap_or_else(|| json!({}));
    let account = data.get("account").cloned().unwrap_or_else(|| json!({}));
    let event_user = ctx.event.get("user").cloned().unwrap_or_else(|| json!({}));
    let user_id = json_str(&event_user, "id")
        .or_else(|| json_str(&account, "userId"))
        .unwrap_or_default()
        .to_string();
    if user_id.is_empty() {
        return Err(FnError::NonRetriable(
            "the event names no user (event.user.id or event.data.account.userId)".into(),
        ));
    }
    let db = &deps.db;
    let discord = &deps.integrations.discord;

    // The database lookups are read steps: recorded with the run's next write, no commit of their own.
    let id = user_id.clone();
    let user: Value = tx_step::read(&ctx.step, "get user", move |tx| {
        let id = id.clone();
        Box::pin(async move {
            let Some(u) = users::get_user_with_accounts_in(tx, &id).await.retryable()? else {
                return Err(StepError::retryable(format!("User not found: {id}")));
            };
            let purchases = purchases::purchases_of_user_in(tx, &id).await.retryable()?;
            let mut v = serde_json::to_value(&u).fatal()?;
            v["purchases"] = serde_json::to_value(purchases).fatal()?;
            Ok(v)
        })
    })
    .await?;

    // The token: the event's (Auth.js passes the fresh account), else the one stored with the account.
    let token = match json_str(&account, "access_token").filter(|t| !t.is_empty()) {
        Some(t) => Some(Secret::new(t.to_string())),
        None => users::get_account_access_token(db, &user_id, "discord")
            .await
            .map_err(|e| FnError::Retryable {
                message: e.to_string(),
                retry_after: None,
            })?
            .map(|t| Secret::new(t.expose().to_string())),
    };

    let discord_user: crate::integrations::discord::DiscordUser = ctx
        .step
        .run("get discord user", || async {
            let Some(token) = &token else {
                return Err(StepError::fatal("The Discord account has no access token"));
            };
            Ok(discord.current_user(token).await?)
        })
        .await?;

    let _added: Value = ctx
        .step
        .run("add user to discord", || async {
            let Some(token) = &token else {
                return Err(StepError::fatal("The Discord account has no access token"));
            };
            let member = discord.add_member(&discord_user.id, token).await?;
            Ok(json!({"discordUserId": discord_user.id, "alreadyMember": member.is_none(), "member": member}))
        })
        .await?;

    ctx.step.sleep("give discord a moment", SETTLE).await?;

    let id = user_id.clone();
    let linked: Option<users::Account> = tx_step::read(&ctx.step, "check if discord is connected", move |tx| {
        let id = id.clone();
        Box::pin(async move { users::get_account_in(tx, &id, "discord").await.retryable() })
    })
    .await?;
    let Some(linked) = linked else {
        return Ok(Value::String(NO_ACCOUNT.into()));
    };
    let member_id = linked.provider_account_id.clone();

    let member: Option<crate::integrations::discord::Member> = ctx
        .step
        .run("get discord member", || async {
            Ok(discord.get_member(&member_id).await?)
        })
        .await?;

    let role_type: Option<entitlements::EntitlementType> =
        tx_step::read(&ctx.step, "get cohort discord role entitlement type", |tx| {
            Box::pin(async move { entitlements::get_entitlement_type_in(tx, ROLE_TYPE).await.retryable() })
        })
        .await?;

    let (id, type_id) = (user_id.clone(), role_type.map(|t| t.id));
    let entitled: Vec<entitlements::Entitlement> =
        tx_step::read(&ctx.step, "get user discord entitlements", move |tx| {
            let (id, type_id) = (id.clone(), type_id.clone());
            Box::pin(async move {
                let Some(t) = type_id else {
                    return Ok(Vec::new());
                };
                entitlements::entitlements_of_user_in(tx, &id, std::slice::from_ref(&t), false)
                    .await
                    .retryable()
            })
        })
        .await?;
    let entitled_roles: Vec<String> = entitled
        .iter()
        .filter_map(|e| json_str(&e.metadata, "discordRoleId"))
        .map(str::to_string)
        .collect();

    let _updated: Value = ctx
        .step
        .run("update basic discord roles for user", || async {
            let Some(m) = member.as_ref().filter(|m| m.user.is_some()) else {
                return Ok(json!({"updated": false, "reason": "not a member of the guild"}));
            };
            let roles = merge_roles(&m.roles, &entitled_roles);
            let after = discord.set_roles(&member_id, &roles).await?;
            Ok(json!({"updated": true, "roles": roles, "member": after}))
        })
        .await?;

    let reloaded: Option<crate::integrations::discord::Member> = ctx
        .step
        .run("reload discord member", || async {
            Ok(discord.get_member(&member_id).await?)
        })
        .await?;

    let _ = user;
    Ok(json!({
        "account": redacted_account(&account),
        "profile": data.get("profile").cloned().unwrap_or(Value::Null),
        "user": event_user,
        "discordMember": reloaded,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn merging_keeps_current_roles_first_and_adds_each_new_role_once() {
        assert_eq!(
            merge_roles(&s(&["manual", "r1"]), &s(&["r1", "r2", "r2", ""])),
            s(&["manual", "r1", "r2"])
        );
        assert_eq!(merge_roles(&s(&["manual"]), &[]), s(&["manual"]));
    }

    #[test]
    fn the_stored_account_has_no_tokens() {
        let a = json!({"provider": "discord", "providerAccountId": "1", "access_token": "t", "refresh_token": "r", "scope": "identify"});
        assert_eq!(
            redacted_account(&a),
            json!({"provider": "discord", "providerAccountId": "1", "scope": "identify"})
        );
    }
}
