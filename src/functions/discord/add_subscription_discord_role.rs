//! `add-subscription-discord-role` — a subscriber gets the Discord subscriber role while a subscription of one of
//! their organizations grants it, and loses it when the last one ends (reference §3.4,
//! `add-subscription-role-discord`).
//!
//! Triggers: `subscription/created` (and the original `commerce/new-subscription-created`) — the user is
//! `event.user.id`; and `subscription/ended` (emitted by `stripe-customer-subscription-updated` when Stripe ends
//! a subscription) — the user is `event.data.userId`. The role is `DISCORD_SUBSCRIBER_ROLE_ID`; unset, the run
//! returns `{skipped: true, reason}` (nothing to grant).
//!
//! Steps: "get user" (missing: non-retriable), "check if discord is connected" (no Discord account: returns
//! "No discord account found for user" — the role then comes with nothing; the original did the same), "get
//! discord member" (not in the guild: returns `{discordMember: null, reason}`), then:
//! - created: "update basic discord roles for user" — if a subscription of the user's organizations grants
//!   access (active, trialing, past due) and the member lacks the role, PATCH roles = current ∪ {role}; then
//!   "reload discord member".
//! - ended: "check other active subscriptions" — another subscription of the user's organizations still grants
//!   access: returns `{removed: false, reason}`; else "remove discord subscriber role" — DELETE the role if the
//!   member has it; then "reload discord member".
//!
//! Decision: the end of a subscription is a separate event consumed here (rather than a Discord call inside the
//! Stripe webhook's function), so the Stripe state change commits first and Discord's own failures (429 with
//! Retry-After, 5xx) retry this run alone. Returns `{discordMember, ...}`.

use crate::functions::Deps;
use crate::functions::cohorts::cohort_entitlement_sync_workflow::platform_err;
use crate::functions::event_triggers;
use crate::integrations::discord::{Member, RoleRemoval};
use crate::platform::commerce::subscriptions;
use crate::platform::users::{self, Account, User};
use crate::store::tx_step;
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError, Trigger};
use serde_json::{Value, json};

pub const ID: &str = "add-subscription-discord-role";
pub const CREATED: &str = "subscription/created";
pub const ENDED: &str = "subscription/ended";

pub fn definition(deps: Deps) -> FunctionDef {
    event_triggers(CREATED, None)
        .into_iter()
        .chain([Trigger::event(ENDED)])
        .fold(
            FunctionDef::new(ID, "Add Subscription Discord Role", move |ctx| {
                run(deps.clone(), ctx)
            }),
            FunctionDef::trigger,
        )
        .summary("Adds the Discord subscriber role when a subscription starts and removes it when the user's last active subscription ends.")
        .services(&["discord"])
        .emits(&[])
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let discord = &deps.integrations.discord;
    let ended = ctx.event["name"] == ENDED;
    let user_id = if ended {
        ctx.event["data"]["userId"].as_str()
    } else {
        ctx.event["user"]["id"].as_str()
    }
    .filter(|s| !s.is_empty())
    .ok_or_else(|| FnError::NonRetriable("the event names no user".into()))?
    .to_string();
    let Some(role) = deps.config.integrations.discord_subscriber_role_id.clone() else {
        return Ok(json!({"skipped": true, "reason": "DISCORD_SUBSCRIBER_ROLE_ID is not set"}));
    };

    // Two read steps (`tx_step::read`): read-only, recorded with the next step's attempt instead of a commit each.
    let uid = user_id.clone();
    let user: User = tx_step::read(&ctx.step, "get user", move |tx| {
        let user_id = uid.clone();
        Box::pin(async move {
            users::get_user_in(tx, &user_id)
                .await
                .map_err(platform_err)?
                .ok_or_else(|| StepError::fatal(format!("User not found: {user_id}")))
        })
    })
    .await?;
    let uid = user.id.clone();
    let account: Option<Account> = tx_step::read(&ctx.step, "check if discord is connected", move |tx| {
        let user_id = uid.clone();
        Box::pin(async move {
            users::get_account_in(tx, &user_id, "discord")
                .await
                .map_err(platform_err)
        })
    })
    .await?;
    let Some(account) = account else {
        return Ok(json!("No discord account found for user"));
    };
    let discord_id = account.provider_account_id.clone();
    let member: Option<Member> = ctx
        .step
        .run("get discord member", || async {
            Ok(discord.get_member(&discord_id).await?)
        })
        .await?;
    let Some(member) = member.filter(|m| m.user.is_some()) else {
        return Ok(json!({"discordMember": null, "reason": "Not a member of the Discord server"}));
    };

    let outcome: Value = if ended {
        let still: bool = ctx
            .step
            .run("check other active subscriptions", || async {
                subscriptions::has_active_subscription(db, &user.id)
                    .await
                    .map_err(platform_err)
            })
            .await?;
        if still {
            return Ok(json!({"discordMember": member, "removed": false,
                             "reason": "Another active subscription still grants the role"}));
        }
        let removed: bool = ctx
            .step
            .run("remove discord subscriber role", || async {
                Ok(discord.remove_role(&discord_id, &role).await? == RoleRemoval::Removed)
            })
            .await?;
        json!({"removed": removed})
    } else {
        let added: bool = ctx
            .step
            .run("update basic discord roles for user", || async {
                let active = subscriptions::has_active_subscription(db, &user.id)
                    .await
                    .map_err(platform_err)?;
                if !active || member.roles.contains(&role) {
                    return Ok(false);
                }
                let mut roles = member.roles.clone();
                roles.push(role.clone());
                discord.set_roles(&discord_id, &roles).await?;
                Ok(true)
            })
            .await?;
        json!({"added": added})
    };
    let reloaded: Option<Member> = ctx
        .step
        .run("reload discord member", || async {
            Ok(discord.get_member(&discord_id).await?)
        })
        .await?;
    let mut out = json!({"discordMember": reloaded});
    if let (Some(o), Some(x)) = (out.as_object_mut(), outcome.as_object()) {
        o.extend(x.clone());
    }
    Ok(out)
}
