//! `create-user-organizations` — the backfill that gives every user without an organization their personal one,
//! a batch at a time (reference §3.1).
//!
//! Triggers `user-organizations/create` (design document) and its original name `create-user-organizations`
//! (`EVENT_ALIASES`), data `{limit?, after?}`: `limit` users per batch (default 25, 1–1,000; a bad value is a
//! non-retriable error), `after` the id of the last user the previous batch handed out. No idempotency key. Steps:
//! 1. "get users" — users with no organization membership, oldest first (`created_at`, then id), after `after`,
//!    at most `limit`.
//! 2. Per user, sendEvent "create organization for user \<id>" → `personal-organization/ensure`
//!    `{userId, createIfMissing: true}` with `user` = the user row (`ensure-personal-organization` does the work).
//! 3. A full batch (`users == limit`): sendEvent "create next batch" → `user-organizations/create`
//!    `{limit, after: <last user id>}` — the function calls itself until a batch comes back short, which ends it.
//!
//! Decisions: the original put `step.sendEvent` inside `step.run` (quirk 15); here each send is its own step, so a
//! retried or crashed run emits each event once (fixed ids). The original re-read "the first `limit` org-less
//! users" each time; since the ensure runs of a batch may not have finished when the next batch starts, that could
//! hand the same users out again. The next batch therefore starts after the last user of this one (`after`, a
//! keyset cursor over `(created_at, id)`), so every user is handed out once per backfill.
//! Returns `{userIds, more}`.

use crate::functions::{Deps, event_triggers};
use crate::platform::users::{User, users_without_organization_after};
use ingot_actors::{FnError, FunctionDef, ResultExt, RunCtx, SendEvent};
use serde_json::{Value, json};

pub const ID: &str = "create-user-organizations";
pub const EVENT: &str = "user-organizations/create";
pub const ENSURE: &str = crate::functions::people::ensure_personal_organization::EVENT;
pub const DEFAULT_LIMIT: i64 = 25;
pub const MAX_LIMIT: i64 = 1_000;

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Create User Organizations", move |ctx| run(deps.clone(), ctx));
    for t in event_triggers(EVENT, None) {
        def = def.trigger(t);
    }
    def.summary("Backfill: asks for a personal organization for each user without one, a batch at a time, re-emitting itself while batches are full.")
        .emits(&[ENSURE, EVENT])
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let data = &ctx.event["data"];
    let limit = match &data["limit"] {
        Value::Null => DEFAULT_LIMIT,
        v => v.as_i64().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            FnError::NonRetriable(format!("limit must be a whole number from 1 to {MAX_LIMIT}, got {v}"))
        })?,
    };
    let after = data["after"].as_str().map(str::to_string);

    let users: Vec<User> = ctx
        .step
        .run("get users", || async {
            users_without_organization_after(db, after.as_deref(), limit)
                .await
                .retryable()
        })
        .await?;

    for user in &users {
        let mut event = SendEvent::new(ENSURE, json!({"userId": user.id, "createIfMissing": true}));
        event.user = json!(user);
        ctx.step
            .send_event(&format!("create organization for user {}", user.id), vec![event])
            .await?;
    }
    let more = users.len() as i64 >= limit;
    if let (true, Some(last)) = (more, users.last()) {
        ctx.step
            .send_event(
                "create next batch",
                vec![SendEvent::new(EVENT, json!({"limit": limit, "after": last.id}))],
            )
            .await?;
    }
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    Ok(json!({"userIds": ids, "more": more}))
}
