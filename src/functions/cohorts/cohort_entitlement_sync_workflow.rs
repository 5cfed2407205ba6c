//! `cohort-entitlement-sync-workflow` — a cohort's content changed: find everyone who holds access to it and
//! start one `cohort-entitlement-sync-user` run per person (reference §3.7).
//!
//! Trigger `cohort/updated` `{cohortId, updatedAt, changes: {resourcesAdded?, resourcesRemoved?}}`. No
//! idempotency key (as the original): every update is synced; a producer that repeats an event id is deduplicated
//! by the intake. Steps:
//! 1. "validate-cohort" — the cohort with its nested content; missing (or not a cohort) is non-retriable
//!    "Cohort not found" (the original retried it; a deleted cohort does not come back by waiting). The target
//!    content is every content descendant of the cohort ([`resources_to_grant`]) — the same set
//!    `post-purchase-workflow` grants — not only its direct children as in the original, so a sync never takes
//!    away the section and lesson access a purchase gave.
//! 2. "find-users-with-entitlements" — distinct users with a live `cohort_content_access` entitlement from a
//!    non-refunded purchase of a product that sells the cohort, with their email. A missing entitlement type is
//!    non-retriable. None: returns `{cohortId, cohortTitle, usersProcessed: 0, message}`.
//! 3. sendEvent "fan-out-user-sync-events-batch-\<n>" (n from 1) — per 100 users, one
//!    `cohort-entitlement/sync.user` `{cohortId, userId, userEmail, cohortResourceIds}` each.
//!
//! Returns `{cohortId, cohortTitle, usersProcessed, message}`. `changes` is not read (as in the original): each
//! user run compares the user's entitlements with the cohort's whole content, so a missed or reordered update is
//! repaired by the next one. A crash replays the completed steps; a batch already sent keeps its event ids, so it
//! is not sent twice.

use crate::functions::Deps;
use crate::platform::commerce::product_types::ProductType;
use crate::platform::content::{self, ResourceTree};
use crate::platform::entitlements::{cohort_access_holders, resources_to_grant};
use crate::platform::users;
use ingot_actors::{FnError, FunctionDef, RunCtx, SendEvent, StepError, Trigger};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const ID: &str = "cohort-entitlement-sync-workflow";
pub const EVENT: &str = "cohort/updated";
pub const SYNC_USER: &str = "cohort-entitlement/sync.user";
/// Users per fan-out step.
pub const BATCH: usize = 100;

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Cohort Entitlement Sync Workflow", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event(EVENT))
        .summary("When a cohort's content changes, fans out one entitlement sync per user holding access to it, in batches of 100.")
        .services(&[])
        .emits(&[SYNC_USER])
}

pub(crate) fn platform_err(e: crate::platform::Error) -> StepError {
    if e.is_retryable() {
        StepError::retryable(e.to_string())
    } else {
        StepError::fatal(e.to_string())
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cohort {
    id: String,
    title: Option<String>,
    resource_ids: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Holder {
    user_id: String,
    user_email: Option<String>,
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let cohort_id = ctx.event["data"]["cohortId"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FnError::NonRetriable("cohort/updated has no cohortId".into()))?
        .to_string();

    let cohort: Cohort = ctx
        .step
        .run("validate-cohort", || async {
            let tree: ResourceTree = content::get_cohort(db, &cohort_id)
                .await
                .map_err(platform_err)?
                .ok_or_else(|| StepError::fatal(format!("Cohort not found: {cohort_id}")))?;
            Ok(Cohort {
                id: tree.resource.id.clone(),
                title: tree.resource.title().map(str::to_string),
                resource_ids: resources_to_grant(ProductType::Cohort, &tree)
                    .into_iter()
                    .map(|r| r.id.clone())
                    .collect(),
            })
        })
        .await?;

    let holders: Vec<Holder> = ctx
        .step
        .run("find-users-with-entitlements", || async {
            let mut out = Vec::new();
            for user_id in cohort_access_holders(db, &cohort.id).await.map_err(platform_err)? {
                let user_email = users::get_user(db, &user_id)
                    .await
                    .map_err(platform_err)?
                    .map(|u| u.email)
                    .filter(|e| !e.is_empty());
                out.push(Holder { user_id, user_email });
            }
            Ok(out)
        })
        .await?;

    if holders.is_empty() {
        return Ok(json!({
            "cohortId": cohort.id, "cohortTitle": cohort.title, "usersProcessed": 0,
            "message": "No users with entitlements to this cohort",
        }));
    }
    for (n, batch) in holders.chunks(BATCH).enumerate() {
        let events = batch
            .iter()
            .map(|h| {
                SendEvent::new(
                    SYNC_USER,
                    json!({"cohortId": cohort.id, "userId": h.user_id, "userEmail": h.user_email,
                           "cohortResourceIds": cohort.resource_ids}),
                )
            })
            .collect();
        ctx.step
            .send_event(&format!("fan-out-user-sync-events-batch-{}", n + 1), events)
            .await?;
    }
    Ok(json!({
        "cohortId": cohort.id, "cohortTitle": cohort.title, "usersProcessed": holders.len(),
        "message": format!("Sync started for {} users", holders.len()),
    }))
}
