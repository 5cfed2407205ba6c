//! Claiming due runs: the `Claimed` (queued/sleeping/waiting → running) and `Rescued` (running → running, new
//! token) edges. A function without flow limits claims with one statement; one with concurrency, throttle or
//! priority rules picks its runs inside a transaction that first counts what is running (and what started within
//! the throttle period) — on PostgreSQL under a per-function advisory lock, so several daemons take turns.

use super::status;
use super::{DbRunStore, EventTuple};
use crate::store::actions::pauses::NOT_PAUSED;
use crate::store::db::Backend;
use crate::store::error::{Error, Result};
use crate::store::sql::{Param, Stmt, Tx};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use ingot_actors::flow::ClaimLimits;
use ingot_actors::run::state::{RunEvent, RunStatus};
use ingot_actors::store::{ClaimRequest, ClaimedRun};
use std::collections::HashMap;

#[derive(QueryableByName)]
pub(super) struct ClaimedRow {
    #[diesel(sql_type = Text)]
    pub(super) id: String,
    #[diesel(sql_type = Text)]
    pub(super) event_id: String,
    #[diesel(sql_type = BigInt)]
    pub(super) lease_token: i64,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub(super) attempt: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) parent_run_id: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub(super) created_at: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(super) started_at: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub(super) batch_size: i32,
}

/// Runs whose `run_at` has come (`now` is a placeholder): the sources of the `Claimed` edge, bound on `s`.
/// Written so the `(function_id, status, run_at, id)` and `(status, run_at)` indexes serve it: completed runs are
/// never scanned.
pub(super) fn due_queued(s: &mut Stmt, now: &str) -> Result<String> {
    Ok(format!(
        "status {} AND run_at <= {now}",
        status::sources(s, RunEvent::Claimed)?
    ))
}

/// Running runs whose node's last heartbeat is older than `stale` (a placeholder): their owner is presumed dead.
/// The source of the `Rescued` edge, bound on `s`.
pub(super) fn due_rescue(s: &mut Stmt, stale: &str) -> Result<String> {
    let running = status::source(s, RunEvent::Rescued, RunStatus::Running)?;
    Ok(format!(
        "status = {running} AND NOT EXISTS \
         (SELECT 1 FROM nodes WHERE nodes.id = runs.lease_owner AND nodes.heartbeat_at >= {stale})"
    ))
}

/// The trigger event's columns a PostgreSQL claim returns beside each run ([`ClaimedWithEvent`]): the claim and the
/// load of its events are one statement (one round trip). Null when the event is gone.
const EVENT_WITH_CLAIM: &str = "events.external_id AS ev_external_id, events.name AS ev_name, \
                                events.data AS ev_data, events.user_data AS ev_user_data, events.ts AS ev_ts, \
                                events.v AS ev_v";

/// A claimed run with its trigger event's columns (PostgreSQL's plain claim).
#[derive(QueryableByName)]
struct ClaimedWithEvent {
    #[diesel(embed)]
    run: ClaimedRow,
    #[diesel(sql_type = Nullable<Text>)]
    ev_external_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    ev_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    ev_data: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    ev_user_data: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    ev_ts: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    ev_v: Option<String>,
}

impl ClaimedWithEvent {
    /// The run, and its trigger event's row if it was found.
    fn split(self) -> (ClaimedRow, Option<EventTuple>) {
        let event = match (self.ev_name, self.ev_data, self.ev_user_data, self.ev_ts) {
            (Some(name), Some(data), Some(user_data), Some(ts)) => Some((
                self.run.event_id.clone(),
                self.ev_external_id,
                name,
                data,
                user_data,
                ts,
                self.ev_v,
            )),
            _ => None,
        };
        (self.run, event)
    }
}

const RETURNING: &str = "RETURNING runs.id, runs.event_id, runs.lease_token, runs.attempt, runs.parent_run_id, \
                         runs.created_at, runs.started_at, runs.batch_size";

/// The claim's `SET`: the target of `Claimed` and `Rescued` (running) through the door, a new lease token.
fn claim_set(s: &mut Stmt) -> Result<String> {
    let set = status::set(s, &[RunEvent::Claimed, RunEvent::Rescued])?;
    Ok(format!(
        "SET {set}, lease_owner = $1, lease_token = lease_token + 1, started_at = COALESCE(started_at, $2), \
         updated_at = $2"
    ))
}

/// Due runs of function `$3` in one status (`status`, a placeholder), in claim order, at most `$5`: a subquery
/// both backends can UNION (`k` orders the groups). `by` is the placeholder of the time a run must be due by.
fn due_group(name: &str, status: &str, by: &str, k: u8, lock: &str) -> String {
    format!(
        "SELECT id, run_at, {k} AS k FROM (SELECT id, run_at FROM runs WHERE function_id = $3 AND status = {status} \
         AND run_at <= {by} ORDER BY run_at, id LIMIT $5{lock}) AS {name}_due"
    )
}

/// The plain claim: `$1` node, `$2` now, `$3` function, `$4` stale-before, `$5` limit, `$6` wake-by (sleepers are
/// claimed that much ahead); the statuses after them, bound by the door.
pub(super) fn claim_stmt(backend: Backend, req: &ClaimRequest) -> Result<Stmt> {
    // Implements the `Claimed` (queued/sleeping/waiting → running) and `Rescued` (running → running, new token)
    // edges of `ingot_actors::run::state::transition`.
    //
    // Runs already under way come first: a sleeper about to wake, a resolved or timed-out wait and a rescued run go
    // before runs that have not started, so a burst of new events does not make wake-ups late (README, Decisions).
    // Within a group: oldest `run_at` first. Each group is a range of the `(function_id, status, run_at, id)` index,
    // in the claim's order, cut at the limit: a long queue is never sorted whole.
    let mut s = Stmt::new("");
    s.params = vec![
        Param::Text(req.node_id.clone()),
        Param::BigInt(req.now_ms),
        Param::Text(req.function_id.clone()),
        Param::BigInt(req.stale_before_ms),
        Param::BigInt(req.limit as i64),
        Param::BigInt(req.wake_by_ms),
    ];
    let set = claim_set(&mut s)?;
    let queued = status::source(&mut s, RunEvent::Claimed, RunStatus::Queued)?;
    let sleeping = status::source(&mut s, RunEvent::Claimed, RunStatus::Sleeping)?;
    let waiting = status::source(&mut s, RunEvent::Claimed, RunStatus::Waiting)?;
    let rescue = due_rescue(&mut s, "$4")?;
    let groups = |lock: &str| {
        [
            due_group("sleeping", &sleeping, "$6", 0, lock),
            due_group("waiting", &waiting, "$2", 0, lock),
            due_group("queued", &queued, "$2", 1, lock),
        ]
        .join(" UNION ALL ")
    };
    // The claim's guard, re-checked on each row it changes: due (a sleeper `wake_ahead` early) or to be rescued.
    let guard = format!(
        "(status IN ({queued}, {waiting}) AND run_at <= $2) OR (status = {sleeping} AND run_at <= $6) OR ({rescue})"
    );
    let returning = RETURNING;
    // A paused function's runs stay where they are (`actions/pauses.rs`).
    let not_paused = NOT_PAUSED;
    s.sql = match backend {
        // A MATERIALIZED CTE picks the rows exactly once: a `WHERE id IN (subquery ... SKIP LOCKED)` may be
        // re-evaluated by the planner and claim more rows than the LIMIT. SKIP LOCKED lets several daemons claim
        // at the same time without waiting on each other.
        Backend::Postgres => {
            let lock = " FOR UPDATE SKIP LOCKED";
            format!(
                "WITH due AS MATERIALIZED ({} UNION ALL SELECT id, run_at, 0 AS k FROM (SELECT id, run_at FROM runs \
                   WHERE function_id = $3 AND {rescue} LIMIT $5{lock}) AS rescued), \
                 picked AS (SELECT id FROM due ORDER BY k, run_at, id LIMIT $5), \
                 claimed AS (UPDATE runs {set} FROM picked WHERE runs.id = picked.id AND ({guard}) AND {not_paused} \
                   {returning}) \
                 SELECT claimed.*, {EVENT_WITH_CLAIM} FROM claimed LEFT JOIN events ON events.id = claimed.event_id",
                groups(lock)
            )
        }
        // SQLite has one writer: the subquery and the update see the same snapshot.
        Backend::Sqlite => format!(
            "UPDATE runs {set} WHERE id IN (SELECT id FROM ({} \
               UNION ALL SELECT id, run_at, 0 AS k FROM runs WHERE function_id = $3 AND {rescue}) \
             ORDER BY k, run_at, id LIMIT $5) AND {not_paused} {returning}",
            groups("")
        ),
    };
    Ok(s)
}

impl DbRunStore {
    pub(super) async fn claim_inner(&self, req: ClaimRequest) -> Result<Vec<ClaimedRun>> {
        if req.limits.any() || req.limits.by_priority {
            let rows = self.claim_limited(&req).await?;
            return self.claimed_runs(&req, rows, None).await;
        }
        let s = claim_stmt(self.db.backend(), &req)?;
        match self.db.backend() {
            Backend::Postgres => {
                let rows: Vec<ClaimedWithEvent> = crate::with_conn!(&self.db, write, |c| c.rows(&s).await?);
                let (rows, events): (Vec<ClaimedRow>, Vec<Option<EventTuple>>) =
                    rows.into_iter().map(ClaimedWithEvent::split).unzip();
                self.claimed_runs(&req, rows, Some(events.into_iter().flatten().collect()))
                    .await
            }
            Backend::Sqlite => {
                let rows: Vec<ClaimedRow> = crate::with_conn!(&self.db, write, |c| c.rows(&s).await?);
                self.claimed_runs(&req, rows, None).await
            }
        }
    }
}

/// A due run a limited function might claim.
#[derive(QueryableByName, Debug, Clone)]
pub(crate) struct Candidate {
    #[diesel(sql_type = Text)]
    id: String,
    /// Concurrency key ("" for none).
    #[diesel(sql_type = Text)]
    ck: String,
    /// Throttle key ("" for none).
    #[diesel(sql_type = Text)]
    tk: String,
    /// Never started: a throttle counts it as a start.
    #[diesel(sql_type = Bool)]
    fresh: bool,
    /// A running run of a dead node: already counted as running.
    #[diesel(sql_type = Bool)]
    rescue: bool,
}

#[derive(QueryableByName)]
struct KeyCount {
    #[diesel(sql_type = Text)]
    k: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Candidates of a limited claim examined at most (in claim order).
const CANDIDATES: i64 = 1000;

/// The candidates to claim, in order, within the limits: `running` counts executing runs per concurrency key,
/// `started` counts starts within the throttle period per throttle key.
pub(crate) fn pick(
    limits: &ClaimLimits,
    want: usize,
    mut running: HashMap<String, i64>,
    mut started: HashMap<String, i64>,
    candidates: &[Candidate],
) -> Vec<String> {
    let mut total: i64 = running.values().sum();
    let mut out = Vec::new();
    for c in candidates {
        if out.len() >= want {
            break;
        }
        if c.rescue {
            out.push(c.id.clone());
            continue;
        }
        if limits.concurrency.is_some_and(|l| total >= l as i64) {
            break;
        }
        let in_key = running.get(&c.ck).copied().unwrap_or(0);
        if limits.key_concurrency.is_some_and(|l| in_key >= l as i64) {
            continue;
        }
        let starts = started.get(&c.tk).copied().unwrap_or(0);
        if c.fresh && limits.throttle.is_some_and(|(l, _)| starts >= l as i64) {
            continue;
        }
        out.push(c.id.clone());
        total += 1;
        *running.entry(c.ck.clone()).or_default() += 1;
        if c.fresh {
            *started.entry(c.tk.clone()).or_default() += 1;
        }
    }
    out
}

impl DbRunStore {
    async fn claim_limited(&self, req: &ClaimRequest) -> Result<Vec<ClaimedRow>> {
        let limits = req.limits;
        let f = Param::Text(req.function_id.clone());
        let mut lock = Stmt::new("SELECT pg_advisory_xact_lock(hashtext($1))");
        lock.params = vec![f.clone()];
        let mut running = Stmt::new("");
        running.params = vec![f.clone()];
        let is_running = status::param(&mut running, RunStatus::Running);
        running.sql = format!(
            "SELECT COALESCE(concurrency_key, '') AS k, COUNT(*) AS n FROM runs WHERE function_id = $1 \
             AND status = {is_running} GROUP BY COALESCE(concurrency_key, '')"
        );
        let period = limits.throttle.map(|t| t.1).unwrap_or(0);
        let mut started = Stmt::new(
            "SELECT COALESCE(throttle_key, '') AS k, COUNT(*) AS n FROM runs WHERE function_id = $1 \
             AND throttle_key IS NOT NULL AND started_at > $2 GROUP BY COALESCE(throttle_key, '')",
        );
        started.params = vec![f.clone(), Param::BigInt(req.now_ms - period)];
        let mut cands = Stmt::new("");
        cands.params = vec![f.clone(), Param::BigInt(req.now_ms), Param::BigInt(req.stale_before_ms)];
        let (due, rescue) = (due_queued(&mut cands, "$2")?, due_rescue(&mut cands, "$3")?);
        let (is_running, is_queued) = (
            status::param(&mut cands, RunStatus::Running),
            status::param(&mut cands, RunStatus::Queued),
        );
        cands.sql = format!(
            "SELECT id, COALESCE(concurrency_key, '') AS ck, COALESCE(throttle_key, '') AS tk, \
             started_at IS NULL AS fresh, status = {is_running} AS rescue FROM runs \
             WHERE function_id = $1 AND (({due}) OR ({rescue})) AND {NOT_PAUSED} \
             ORDER BY CASE WHEN status = {is_queued} THEN 1 ELSE 0 END, run_at - priority, id LIMIT {CANDIDATES}"
        );
        crate::with_conn!(&self.db, write, |c| {
            crate::write_tx!(c, Error, async |tx| {
                if tx.backend() == Backend::Postgres {
                    // Serializes limited claims of this function across daemons until the commit.
                    #[derive(QueryableByName)]
                    struct Locked {}
                    tx.rows::<Locked>(&lock).await?;
                }
                let counts = |rows: Vec<KeyCount>| rows.into_iter().map(|r| (r.k, r.n)).collect::<HashMap<_, _>>();
                let running = counts(tx.rows(&running).await?);
                let started = if limits.throttle.is_some() {
                    counts(tx.rows(&started).await?)
                } else {
                    HashMap::new()
                };
                let candidates: Vec<Candidate> = tx.rows(&cands).await?;
                let ids = pick(&limits, req.limit, running, started, &candidates);
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                tx.rows::<ClaimedRow>(&limited_claim_stmt(req, ids)?).await
            })
            .await
        })
    }
}

/// A limited claim's update of the runs it picked (`ids`), each guarded again as the plain claim guards it.
pub(super) fn limited_claim_stmt(req: &ClaimRequest, ids: Vec<String>) -> Result<Stmt> {
    let mut up = Stmt::new("");
    up.params = vec![
        Param::Text(req.node_id.clone()),
        Param::BigInt(req.now_ms),
        Param::Text(req.function_id.clone()),
        Param::BigInt(req.stale_before_ms),
    ];
    let set = claim_set(&mut up)?;
    let (due, rescue) = (due_queued(&mut up, "$2")?, due_rescue(&mut up, "$4")?);
    let first = up.next_placeholder();
    let marks: Vec<String> = (first..first + ids.len()).map(|i| format!("${i}")).collect();
    up.sql = format!(
        "UPDATE runs {set} WHERE function_id = $3 AND id IN ({}) AND (({due}) OR ({rescue})) {RETURNING}",
        marks.join(", ")
    );
    up.params.extend(ids.into_iter().map(Param::Text));
    Ok(up)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: &str, ck: &str, tk: &str, fresh: bool) -> Candidate {
        Candidate {
            id: id.into(),
            ck: ck.into(),
            tk: tk.into(),
            fresh,
            rescue: false,
        }
    }

    #[test]
    fn pick_respects_function_key_and_throttle_limits() {
        let cands = [
            cand("a", "u1", "", true),
            cand("b", "u1", "", true),
            cand("c", "u2", "", true),
        ];
        let per_key = ClaimLimits {
            key_concurrency: Some(1),
            ..Default::default()
        };
        assert_eq!(pick(&per_key, 10, HashMap::new(), HashMap::new(), &cands), ["a", "c"]);
        let busy = HashMap::from([("u1".to_string(), 1)]);
        assert_eq!(pick(&per_key, 10, busy, HashMap::new(), &cands), ["c"]);
        let total = ClaimLimits {
            concurrency: Some(2),
            ..Default::default()
        };
        assert_eq!(pick(&total, 10, HashMap::new(), HashMap::new(), &cands), ["a", "b"]);
        let throttle = ClaimLimits {
            throttle: Some((2, 1000)),
            ..Default::default()
        };
        let started = HashMap::from([(String::new(), 1)]);
        assert_eq!(pick(&throttle, 10, HashMap::new(), started, &cands), ["a"]);
        // A resumed run (already started) is not a new start.
        let resumed = [cand("r", "", "", false), cand("n", "", "", true)];
        let started = HashMap::from([(String::new(), 2)]);
        assert_eq!(pick(&throttle, 10, HashMap::new(), started, &resumed), ["r"]);
    }
}
