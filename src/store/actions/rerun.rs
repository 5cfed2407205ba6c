//! Reruns: a new run of a finished run's function from the same event (`rerun_of` names the original). From a
//! step, the new run starts with the original's completed steps that came before it — their final attempts
//! copied as they are — so the step memo replays them and only that step and the ones after it execute.
//!
//! "Before" is the order the handler reached its steps (`steps.position`). A run created with steps starts at
//! lease token 1, as if claimed once: its first claim then loads the copied steps like a run that ran before
//! (`ClaimedRun::first_claim` is false, so `timeouts.start` does not apply to it).

use super::audit::{self, Audit};
use super::{ActionError, Refusal};
use crate::store::db::Db;
use crate::store::runs::admission::{self, CancelWait};
use crate::store::runs::{EVENT_COLUMNS, EventTuple, event_json};
use crate::store::schema::{events, runs};
use crate::store::sql::{Param, Stmt, Tx};
use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::RunQueryDsl;
use ingot_actors::Registry;
use ingot_actors::run::state::{RunStatus, StepStatus};
use serde_json::json;

/// What a rerun created.
#[derive(Debug, Clone)]
pub struct Rerun {
    pub id: String,
    pub function_id: String,
    /// Completed steps the new run starts with.
    pub kept_steps: usize,
}

#[derive(QueryableByName)]
struct Position {
    #[diesel(sql_type = Nullable<BigInt>)]
    position: Option<i64>,
}

#[derive(QueryableByName)]
struct Key {
    #[diesel(sql_type = Text)]
    #[allow(dead_code)]
    step_key: String,
}

/// Creates the rerun of `run_id` (from `from_step`'s key when given) and records the action on both runs.
pub async fn rerun(
    db: &Db,
    registry: &Registry,
    run_id: &str,
    from_step: Option<&str>,
    audit: &Audit,
    now_ms: i64,
) -> Result<Rerun, ActionError> {
    let original: Option<(String, String, String)> = crate::with_conn!(db, read, |c| {
        runs::table
            .filter(runs::id.eq(run_id))
            .select((runs::function_id, runs::event_id, runs::status))
            .first(c)
            .await
            .optional()?
    });
    let Some((function_id, event_id, status)) = original else {
        return Err(Refusal::NotFound(format!("no run {run_id:?}")).into());
    };
    if !RunStatus::parse(&status).is_some_and(RunStatus::is_final) {
        return Err(Refusal::Conflict(format!(
            "run {run_id:?} has not finished ({status}): cancel it or let it finish before a rerun"
        ))
        .into());
    }
    let function = registry.get(&function_id).ok_or_else(|| {
        Refusal::Conflict(format!(
            "function {function_id:?} of run {run_id:?} is not registered any more"
        ))
    })?;
    let event: EventTuple = crate::with_conn!(db, read, |c| {
        events::table
            .filter(events::id.eq(&event_id))
            .select(EVENT_COLUMNS)
            .first(c)
            .await?
    });
    let view = event_json(&event)?;
    let cancel_on = function.flow.admit(&view, now_ms).cancel_on;
    let new_id = uuid::Uuid::now_v7().to_string();
    let audit = &audit.clone().on_function(&function_id);
    let waits: Vec<CancelWait> = cancel_on
        .into_iter()
        .enumerate()
        .map(|(index, (event_name, expr, lifetime))| CancelWait {
            run_id: new_id.clone(),
            index,
            event_name,
            expr,
            trigger_event: view.to_string(),
            expires_at: now_ms + lifetime,
        })
        .collect();
    let result = crate::with_conn!(db, write, |c| {
        crate::write_tx!(c, ActionError, async |tx| {
            let position = match from_step {
                None => None,
                Some(key) => Some(step_position(tx, run_id, key).await?),
            };
            create_run(tx, run_id, &new_id, position.is_some(), now_ms).await?;
            let kept = match position {
                Some(p) => copy_steps_before(tx, run_id, &new_id, p).await?,
                None => 0,
            };
            admission::insert_cancel_waits(tx, waits, now_ms).await?;
            let result = json!({"run_id": new_id, "kept_steps": kept});
            audit::record_in(tx, audit, &result, &[run_id.to_string(), new_id.clone()], now_ms).await?;
            Ok(kept)
        })
        .await
    })?;
    Ok(Rerun {
        id: new_id,
        function_id,
        kept_steps: result,
    })
}

/// The position of `key` in `run_id`; an unknown step is refused.
async fn step_position<T: Tx>(tx: &mut T, run_id: &str, key: &str) -> Result<i64, ActionError> {
    let mut q =
        Stmt::new("SELECT CAST(MIN(position) AS BIGINT) AS position FROM steps WHERE run_id = $1 AND step_key = $2");
    q.params = vec![Param::Text(run_id.into()), Param::Text(key.into())];
    let found = tx
        .rows::<Position>(&q)
        .await?
        .into_iter()
        .next()
        .and_then(|p| p.position);
    if let Some(p) = found {
        return Ok(p);
    }
    let mut all = Stmt::new("SELECT DISTINCT step_key FROM steps WHERE run_id = $1");
    all.params = vec![Param::Text(run_id.into())];
    let known = tx.rows::<Key>(&all).await?.len();
    Err(Refusal::BadRequest(format!(
        "run {run_id:?} has no step {key:?} ({known} steps; their ids are in GET /api/v1/runs/{run_id})"
    ))
    .into())
}

/// The new run: the original's function, event and flow keys, queued and due now. Debounce, batch and
/// idempotency keys stay empty: the rerun is nobody's pending debounce or open batch, and repeats on purpose.
async fn create_run<T: Tx>(
    tx: &mut T,
    original: &str,
    new_id: &str,
    seeded: bool,
    now_ms: i64,
) -> Result<(), ActionError> {
    let mut ins = Stmt::new(
        "INSERT INTO runs (id, function_id, event_id, status, run_at, created_at, updated_at, concurrency_key, \
         throttle_key, priority, batch_size, rerun_of, lease_token) SELECT $1, function_id, event_id, $3, $4, $4, \
         $4, concurrency_key, throttle_key, priority, batch_size, id, $5 FROM runs WHERE id = $2",
    );
    ins.params = vec![
        Param::Text(new_id.into()),
        Param::Text(original.into()),
        crate::store::runs::status::initial(),
        Param::BigInt(now_ms),
        Param::BigInt(i64::from(seeded)),
    ];
    if tx.exec(&ins).await? == 0 {
        return Err(Refusal::NotFound(format!("no run {original:?}")).into());
    }
    let mut batch = Stmt::new(
        "INSERT INTO run_events (run_id, position, event_id) SELECT $1, position, event_id FROM run_events \
         WHERE run_id = $2",
    );
    batch.params = vec![Param::Text(new_id.into()), Param::Text(original.into())];
    tx.exec(&batch).await?;
    Ok(())
}

/// Copies the final attempts of the original's steps that completed before `position`.
async fn copy_steps_before<T: Tx>(
    tx: &mut T,
    original: &str,
    new_id: &str,
    position: i64,
) -> Result<usize, ActionError> {
    let mut s = Stmt::new(
        "INSERT INTO steps (run_id, step_key, attempt, position, name, status, output, error, started_at, \
         finished_at, retry_at, kind, wake_at) SELECT $1, step_key, attempt, position, name, status, output, error, \
         started_at, finished_at, retry_at, kind, wake_at FROM steps WHERE run_id = $2 AND status = $3 \
         AND position < $4",
    );
    s.params = vec![
        Param::Text(new_id.into()),
        Param::Text(original.into()),
        Param::Text(StepStatus::Completed.as_str().into()),
        Param::BigInt(position),
    ];
    Ok(tx.exec(&s).await?)
}
