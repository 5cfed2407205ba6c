//! `add-discord-role-workflow` — a user was added to a cohort or workshop (a purchase, a seat, a transfer): give
//! them its Discord role now if their Discord account is linked (reference §3.8).
//!
//! Triggers `discord/user-added-to-cohort` `{cohortId, userId, discordRoleId}` and `discord/user-added-to-workshop`
//! `{workshopId, userId, discordRoleId}` (and the original platform's `cohort/user-added`, `workshop/user-added`).
//! No idempotency key: the PATCH sends the full role list, so running again sets the same roles.
//!
//! Branches and steps:
//! - No `discordRoleId` (absent, null or empty; post-purchase sends the event even without one) → returns
//!   `"No discord role id found"`, no step.
//! - No `userId` → non-retriable.
//! 1. "get user" — missing → retryable (the user row may be written just after the event; as the original).
//! 2. "check if discord is connected" — the user's `discord` account; none → returns
//!    `"No discord account found for user"`: the role comes when they link (`discord-account-linked` grants the
//!    roles of their live entitlements).
//! 3. "get discord member" — bot `GET guilds/{guild}/members/{providerAccountId}`; not in the guild → `null`.
//! 4. "update discord roles for user" — a member: PATCH `roles` = their current roles followed by the new role
//!    (no duplicate; manual roles stay). Not a member → `{updated: false}` (joining the guild happens at linking).
//! 5. "reload discord member".
//!
//! Returns `{discordMember}` (the reloaded member). Discord errors retry (429 after its `Retry-After`, 5xx);
//! a 4xx other than 404 on the member fails the run.

use crate::functions::discord::discord_account_linked::merge_roles;
use crate::functions::refunds::refund_entitlements::db_err;
use crate::functions::{Deps, event_triggers};
use crate::integrations::discord::Member;
use crate::platform::{json_str, users};
use crate::store::tx_step;
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde_json::{Value, json};

pub const ID: &str = "add-discord-role-workflow";
pub const USER_ADDED_TO_COHORT: &str = "discord/user-added-to-cohort";
pub const USER_ADDED_TO_WORKSHOP: &str = "discord/user-added-to-workshop";
pub const NO_ROLE: &str = "No discord role id found";
pub const NO_ACCOUNT: &str = "No discord account found for user";

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Add Discord Role Workflow", move |ctx| run(deps.clone(), ctx));
    for t in event_triggers(USER_ADDED_TO_COHORT, None)
        .into_iter()
        .chain(event_triggers(USER_ADDED_TO_WORKSHOP, None))
    {
        def = def.trigger(t);
    }
    def.summary("A user added to a cohort or workshop whose Discord account is linked gets its Discord role added to the roles they have.")
        .services(&["discord"])
        .emits(&[])
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let data = &ctx.event["data"];
    let Some(role) = json_str(data, "discordRoleId")
        .filter(|r| !r.is_empty())
        .map(str::to_string)
    else {
        return Ok(Value::String(NO_ROLE.into()));
    };
    let user_id = json_str(data, "userId")
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .ok_or_else(|| FnError::NonRetriable("The event has no userId".into()))?;
    let discord = &deps.integrations.discord;

    // Two read steps (`tx_step::read`): read-only, recorded with the next step's attempt instead of a commit each.
    let uid = user_id.clone();
    let _user: users::User = tx_step::read(&ctx.step, "get user", move |tx| {
        let user_id = uid.clone();
        Box::pin(async move {
            users::get_user_in(tx, &user_id)
                .await
                .map_err(db_err)?
                .ok_or_else(|| StepError::retryable(format!("User not found: {user_id}")))
        })
    })
    .await?;
    let uid = user_id.clone();
    let account: Option<users::Account> = tx_step::read(&ctx.step, "check if discord is connected", move |tx| {
        let user_id = uid.clone();
        Box::pin(async move { users::get_account_in(tx, &user_id, "discord").await.map_err(db_err) })
    })
    .await?;
    let Some(account) = account else {
        return Ok(Value::String(NO_ACCOUNT.into()));
    };
    let member_id = account.provider_account_id;
    let member: Option<Member> = ctx
        .step
        .run("get discord member", || async {
            Ok(discord.get_member(&member_id).await?)
        })
        .await?;
    let _updated: Value = ctx
        .step
        .run("update discord roles for user", || async {
            let Some(m) = member.as_ref().filter(|m| m.user.is_some()) else {
                return Ok(json!({"updated": false, "reason": "not a member of the guild"}));
            };
            let roles = merge_roles(&m.roles, std::slice::from_ref(&role));
            discord.set_roles(&member_id, &roles).await?;
            Ok(json!({"updated": true, "roles": roles}))
        })
        .await?;
    let reloaded: Option<Member> = ctx
        .step
        .run("reload discord member", || async {
            Ok(discord.get_member(&member_id).await?)
        })
        .await?;
    Ok(json!({ "discordMember": reloaded }))
}
