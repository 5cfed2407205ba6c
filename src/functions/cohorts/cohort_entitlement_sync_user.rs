//! `cohort-entitlement-sync-user` — one user's cohort content access follows the cohort's content (reference
//! §3.7).
//!
//! Trigger `cohort-entitlement/sync.user` `{cohortId, userId, userEmail, cohortResourceIds}` (sent by
//! `cohort-entitlement-sync-workflow`). Flow control: at most 5 runs at once (`concurrency(5)`), 3 retries.
//! One step, "sync-user-entitlements" ([`sync_cohort_content`]): in one write transaction, the user's live
//! `cohort_content_access` entitlements from non-refunded purchases of the cohort's products are compared with
//! `cohortResourceIds`; each missing content id gets an entitlement (`<contentId>-<uuid>`, `metadata.contentIds =
//! [id]`, source the purchase that granted the user's access, in that grant's organization and membership),
//! and entitlements for content no longer in the cohort are soft-deleted.
//!
//! Branches: nothing to change → `{toAdd: [], toRemove: [], updated: 0}`; the user holds no live access to the
//! cohort (refunded meanwhile) → the same, nothing is granted; a missing `cohort_content_access` type is
//! non-retriable. Returns `{userId, userEmail, cohortId, entitlementsAdded, entitlementsRemoved, toAdd, toRemove,
//! updated}`.
//!
//! Decisions (reference §9.13): removals are soft deletes, as everywhere else; new grants use the organization of
//! the purchase's existing grant instead of the user's first membership. A retried or crashed step recomputes the
//! difference from the database, so it never grants twice.

use crate::functions::Deps;
use crate::functions::cohorts::cohort_entitlement_sync_workflow::{SYNC_USER, platform_err};
use crate::platform::entitlements::{CohortSync, sync_cohort_content};
use ingot_actors::{FnError, FunctionDef, RunCtx, Trigger};
use serde_json::{Value, json};

pub const ID: &str = "cohort-entitlement-sync-user";
pub const CONCURRENCY: u32 = 5;

pub fn definition(deps: Deps) -> FunctionDef {
    FunctionDef::new(ID, "Cohort Entitlement Sync User", move |ctx| run(deps.clone(), ctx))
        .trigger(Trigger::event(SYNC_USER))
        .retries(3)
        .concurrency(CONCURRENCY, None)
        .summary("Adds and soft-deletes one user's cohort content entitlements, in one transaction, so they match the cohort's content.")
        .services(&[])
        .emits(&[])
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let data = &ctx.event["data"];
    let field = |k: &str| {
        data[k]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| FnError::NonRetriable(format!("{SYNC_USER} has no {k}")))
    };
    let (cohort_id, user_id) = (field("cohortId")?, field("userId")?);
    let target: Vec<String> = data["cohortResourceIds"]
        .as_array()
        .ok_or_else(|| FnError::NonRetriable(format!("{SYNC_USER} has no cohortResourceIds")))?
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();

    let sync: CohortSync = ctx
        .step
        .run("sync-user-entitlements", || async {
            sync_cohort_content(db, &cohort_id, &user_id, &target)
                .await
                .map_err(platform_err)
        })
        .await?;
    Ok(json!({
        "userId": user_id,
        "userEmail": data["userEmail"],
        "cohortId": cohort_id,
        "toAdd": sync.to_add,
        "toRemove": sync.to_remove,
        "entitlementsAdded": sync.added_ids.len(),
        "entitlementsRemoved": sync.removed_ids.len(),
        "updated": sync.added_ids.len() + sync.removed_ids.len(),
    }))
}
