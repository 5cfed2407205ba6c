//! Cancelling runs that have not finished: the `Cancelled` edge, for one run (the API's cancel, a `cancel_on`
//! event) or for every run a filter selects (the bulk cancel, in bounded batches). The statuses a run may be
//! cancelled from, and the status it goes to, come from `ingot_actors::run::state::transition` and are bound as
//! parameters, never written into the SQL.

use super::status;
use crate::store::actions::audit::{self, Audit};
use crate::store::db::Db;
use crate::store::error::{Error, Result};
use crate::store::sql::{Param, Stmt, Tx};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use ingot_actors::run::state::{RunEvent, RunStatus, transition};
use serde_json::json;

/// Runs a bulk cancel changes per transaction.
pub const BATCH: usize = 500;

/// The statuses the `Cancelled` edge leaves from (every unfinished status), from the lifecycle table — the same
/// sources the door guards the cancel with.
pub fn cancellable() -> Vec<RunStatus> {
    RunStatus::ALL
        .into_iter()
        .filter(|s| transition(*s, RunEvent::Cancelled).is_ok())
        .collect()
}

/// `IN ($n, …)` over `values`, bound as parameters of `s`.
pub(crate) fn in_list(s: &mut Stmt, values: impl IntoIterator<Item = String>) -> String {
    let marks: Vec<String> = values.into_iter().map(|v| s.bind(Param::Text(v))).collect();
    format!("IN ({})", marks.join(", "))
}

#[derive(QueryableByName, Debug, Clone)]
pub struct CancelledRun {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub function_id: String,
}

/// The `Cancelled` edge for those of `ids` that have not finished, whoever holds them: a running run's lease is
/// fenced off by the status change, so its worker persists nothing more. Their `cancel_on` listeners go too.
pub async fn cancel_many_in<T: Tx>(tx: &mut T, ids: &[String], why: &str, now_ms: i64) -> Result<Vec<CancelledRun>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let up = cancel_stmt(ids, why, now_ms)?;
    let cancelled: Vec<CancelledRun> = tx.rows(&up).await?;
    if !cancelled.is_empty() {
        let mut del = Stmt::new("");
        let ids_in = in_list(&mut del, cancelled.iter().map(|r| r.id.clone()));
        del.push_sql(&format!("DELETE FROM waits WHERE run_id {ids_in}"));
        tx.exec(&del).await?;
    }
    Ok(cancelled)
}

/// The `Cancelled` edge for those of `ids` that have not finished: `RETURNING id, function_id`.
pub(super) fn cancel_stmt(ids: &[String], why: &str, now_ms: i64) -> Result<Stmt> {
    let error = json!({"name": "Cancelled", "message": why}).to_string();
    let mut up = Stmt::new("");
    up.params = vec![Param::Text(error), Param::BigInt(now_ms)];
    let set = status::set(&mut up, &[RunEvent::Cancelled])?;
    let from = status::sources(&mut up, RunEvent::Cancelled)?;
    let ids_in = in_list(&mut up, ids.iter().cloned());
    up.sql = format!(
        "UPDATE runs SET {set}, error = $1, finished_at = $2, updated_at = $2, lease_owner = NULL, \
         notify_pending = TRUE WHERE id {ids_in} AND status {from} RETURNING id, function_id"
    );
    Ok(up)
}

/// Cancels one run that has not finished and records the action with it, in one transaction. False (and nothing
/// recorded) if the run is unknown or already finished.
pub async fn cancel_one(db: &Db, run_id: &str, audit: &Audit, now_ms: i64) -> Result<bool> {
    let ids = [run_id.to_string()];
    crate::with_conn!(db, write, |c| {
        crate::write_tx!(c, Error, async |tx| {
            let done = cancel_many_in(tx, &ids, "cancelled through the API", now_ms).await?;
            if done.is_empty() {
                return Ok(false);
            }
            let result = json!({"status": RunStatus::Cancelled.as_str()});
            let audit = audit.clone().on_function(&done[0].function_id);
            audit::record_in(tx, &audit, &result, &ids, now_ms).await?;
            Ok(true)
        })
        .await
    })
}

/// Which unfinished runs a bulk cancel selects. Every field narrows; times are `created_at` in ms, inclusive
/// (`to` is at most the time of the request).
#[derive(Debug, Clone, Default)]
pub struct CancelFilter {
    pub function_id: Option<String>,
    /// Empty: every unfinished status.
    pub statuses: Vec<RunStatus>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub event_name: Option<String>,
}

fn select_batch(f: &CancelFilter) -> Stmt {
    let mut s = Stmt::new("");
    let statuses: Vec<RunStatus> = if f.statuses.is_empty() {
        cancellable()
    } else {
        f.statuses.clone()
    };
    let mut clauses = vec![format!("r.status {}", status::param_in(&mut s, &statuses))];
    let mut bind = |s: &mut Stmt, p: Param, clause: &str| {
        let mark = s.bind(p);
        clauses.push(clause.replace('#', &mark));
    };
    if let Some(fid) = &f.function_id {
        bind(&mut s, Param::Text(fid.clone()), "r.function_id = #");
    }
    if let Some(from) = f.from_ms {
        bind(&mut s, Param::BigInt(from), "r.created_at >= #");
    }
    if let Some(to) = f.to_ms {
        bind(&mut s, Param::BigInt(to), "r.created_at <= #");
    }
    let join = match &f.event_name {
        Some(name) => {
            bind(&mut s, Param::Text(name.clone()), "e.name = #");
            " JOIN events e ON e.id = r.event_id"
        }
        None => "",
    };
    s.push_sql(&format!(
        "SELECT r.id AS id, r.function_id AS function_id FROM runs r{join} WHERE {} ORDER BY r.id LIMIT {BATCH}",
        clauses.join(" AND ")
    ));
    s
}

/// Cancels every unfinished run `filter` selects, [`BATCH`] runs per transaction; each batch records its runs
/// under the one action (whose result counts the runs cancelled so far). Returns how many were cancelled.
pub async fn bulk_cancel(db: &Db, filter: &CancelFilter, audit: &Audit, now_ms: i64) -> Result<usize> {
    // Runs created after the request are not its business, and the loop ends even while new runs keep coming.
    let filter = CancelFilter {
        to_ms: Some(filter.to_ms.map_or(now_ms, |t| t.min(now_ms))),
        ..filter.clone()
    };
    let select = select_batch(&filter);
    let mut total = 0usize;
    let mut first = true;
    loop {
        let (picked, cancelled) = crate::with_conn!(db, write, |c| {
            crate::write_tx!(c, Error, async |tx| {
                let batch: Vec<CancelledRun> = tx.rows(&select).await?;
                let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
                let done = cancel_many_in(tx, &ids, "cancelled by a bulk cancel through the API", now_ms).await?;
                let done_ids: Vec<String> = done.iter().map(|r| r.id.clone()).collect();
                if first || !done_ids.is_empty() {
                    let result = json!({"cancelled": total + done_ids.len()});
                    audit::record_in(tx, audit, &result, &done_ids, now_ms).await?;
                }
                Ok((batch.len(), done_ids.len()))
            })
            .await
        })?;
        first = false;
        total += cancelled;
        // A short batch was the last. Runs that finished meanwhile no longer match: the next batch moves on.
        if picked < BATCH {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unfinished_status_and_no_final_one_can_be_cancelled() {
        assert_eq!(
            cancellable(),
            [
                RunStatus::Queued,
                RunStatus::Running,
                RunStatus::Sleeping,
                RunStatus::Waiting
            ]
        );
        assert!(cancellable().iter().all(|s| !s.is_final()));
        assert_eq!(cancellable(), status::Edge::of(RunEvent::Cancelled).unwrap().from);
    }

    #[test]
    fn the_bulk_filter_binds_every_value() {
        let f = CancelFilter {
            function_id: Some("f".into()),
            statuses: vec![RunStatus::Sleeping],
            from_ms: Some(1),
            to_ms: Some(2),
            event_name: Some("e".into()),
        };
        let s = select_batch(&f);
        assert_eq!(
            s.sql,
            format!(
                "SELECT r.id AS id, r.function_id AS function_id FROM runs r JOIN events e ON e.id = r.event_id \
                 WHERE r.status IN ($1) AND r.function_id = $2 AND r.created_at >= $3 AND r.created_at <= $4 \
                 AND e.name = $5 ORDER BY r.id LIMIT {BATCH}"
            )
        );
        assert_eq!(
            s.params,
            [
                Param::Text("sleeping".into()),
                Param::Text("f".into()),
                Param::BigInt(1),
                Param::BigInt(2),
                Param::Text("e".into())
            ]
        );
        // No status given: every unfinished one, and no literal in the SQL.
        let s = select_batch(&CancelFilter::default());
        assert!(s.sql.starts_with("SELECT r.id AS id, r.function_id AS function_id FROM runs r WHERE r.status IN ($1, $2, $3, $4) ORDER BY"), "{}", s.sql);
        assert!(!s.sql.contains('\''));
    }
}
