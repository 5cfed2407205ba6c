//! `ensure-personal-organization` — find or create a user's personal organization `Personal (<email>)`, with the
//! `owner` role (when created) and the `learner` role (reference §3.1, §6.1).
//!
//! Triggers `personal-organization/ensure` (design document) and its original name `organization/ensure-personal`
//! (`EVENT_ALIASES`), data `{userId, createIfMissing?}` (default true). No idempotency key: every step is a
//! find-or-create, so a second event changes nothing. Steps:
//! 1. "get user" — missing user (or no `userId`): non-retriable "User not found: \<id>" (the design document's rule
//!    for missing data; the original retried a plain error).
//! 2. `createIfMissing == false`: "check personal organization" — the organization named `Personal (<email>)`, else
//!    the user's oldest membership (as the original), else none; nothing is written.
//! 3. Otherwise "ensure personal organization" — find or create it (id `org_personal_<userId>`, so a step that
//!    crashed half-way completes the same organization), the user's membership (invited by themself), `owner` on
//!    create, then `learner`. A user without an email fails non-retriably (the organization is named by it).
//!
//! Returns `{user, organization, membership, wasCreated, roles}` (`organization`/`membership` null when the check
//! finds none; `roles` = the member's live role names).

use crate::functions::{Deps, event_triggers};
use crate::platform::organizations::{self, OrganizationMembership, PersonalOrganization};
use crate::platform::users::{User, get_user};
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde_json::{Value, json};

pub const ID: &str = "ensure-personal-organization";
pub const EVENT: &str = "personal-organization/ensure";

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Ensure Personal Organization", move |ctx| run(deps.clone(), ctx));
    for t in event_triggers(EVENT, None) {
        def = def.trigger(t);
    }
    def.summary("Finds or creates a user's personal organization with their owner and learner roles.")
}

/// A platform error inside a step: database failures retry, missing or bad data does not.
fn db_err(e: crate::platform::Error) -> StepError {
    if e.is_retryable() {
        StepError::retryable(e.to_string())
    } else {
        StepError::fatal(e.to_string())
    }
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let data = &ctx.event["data"];
    let user_id = data["userId"].as_str().unwrap_or_default().to_string();
    let create = data["createIfMissing"].as_bool().unwrap_or(true);

    let user: User = ctx
        .step
        .run("get user", || async {
            let found = if user_id.is_empty() {
                None
            } else {
                get_user(db, &user_id).await.map_err(db_err)?
            };
            found.ok_or_else(|| StepError::fatal(format!("User not found: {user_id:?}")))
        })
        .await?;

    if !create {
        let found: Value = ctx
            .step
            .run("check personal organization", || async {
                let found: Option<OrganizationMembership> = organizations::get_personal_organization(db, &user)
                    .await
                    .map_err(db_err)?;
                Ok(match found {
                    Some(m) => {
                        let roles = organizations::member_role_names(db, &m.membership.id)
                            .await
                            .map_err(db_err)?;
                        json!({"organization": m.organization, "membership": m.membership, "roles": roles})
                    }
                    None => json!({"organization": null, "membership": null, "roles": []}),
                })
            })
            .await?;
        return Ok(
            json!({"user": user, "organization": found["organization"], "membership": found["membership"],
            "wasCreated": false, "roles": found["roles"]}),
        );
    }

    let ensured: Value = ctx
        .step
        .run("ensure personal organization", || async {
            let p: PersonalOrganization = organizations::ensure_personal_organization_with_learner_role(db, &user)
                .await
                .map_err(db_err)?;
            let roles = organizations::member_role_names(db, &p.membership.id)
                .await
                .map_err(db_err)?;
            Ok(
                json!({"organization": p.organization, "membership": p.membership, "wasCreated": p.was_created,
                "roles": roles}),
            )
        })
        .await?;
    Ok(
        json!({"user": user, "organization": ensured["organization"], "membership": ensured["membership"],
        "wasCreated": ensured["wasCreated"], "roles": ensured["roles"]}),
    )
}
