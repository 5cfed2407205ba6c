//! Queries behind the read API and `/health`. Read-only; shapes are the API's JSON.

use super::db::Db;
use super::error::Result;
use super::from_json_text;
use super::runs::{EVENT_COLUMNS, EventTuple, event_json};
use super::schema::{events, run_skips, runs, steps};
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use ingot_actors::run::state::RunStatus;
use ingot_actors::time::rfc3339;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
pub struct EventView {
    pub id: String,
    /// The event as functions see it (`id` is the producer's id when it sent one).
    pub event: Value,
    pub received_at: String,
    /// The producer's id was seen within 24 h: stored, started no runs.
    pub duplicate: bool,
    pub run_ids: Vec<String>,
    pub skipped: Vec<SkipView>,
}

#[derive(Debug, Serialize)]
pub struct SkipView {
    pub function_id: String,
    pub reason: String,
    pub existing_run_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub id: String,
    pub function_id: String,
    pub event_id: String,
    pub status: String,
    pub attempt: i32,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// For a queued run: when it may start (a retry backoff puts this in the future).
    pub run_at: String,
    /// The times above in ms (for the dashboard's timeline and cursors).
    #[serde(skip)]
    pub created_ms: i64,
    #[serde(skip)]
    pub started_ms: Option<i64>,
    #[serde(skip)]
    pub finished_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct RunView {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub idempotency_key: Option<String>,
    /// The run this one reruns (`POST /api/v1/runs/{id}/rerun`).
    pub rerun_of: Option<String>,
    /// The run that invoked this one (`step.invoke`).
    pub parent_run_id: Option<String>,
    pub output: Option<Value>,
    pub error: Option<Value>,
    pub steps: Vec<StepView>,
}

#[derive(Debug, Serialize)]
pub struct StepView {
    pub id: String,
    pub name: String,
    /// `run`, `sleep`, `wait_for_event`, `invoke` or `send_event`.
    pub kind: String,
    /// For a waiting step: when it resumes (the sleep's end, the timeout).
    pub wake_at: Option<String>,
    /// The status of the latest attempt.
    pub status: String,
    pub attempts: usize,
    pub output: Option<Value>,
    pub error: Option<Value>,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: i64,
    pub history: Vec<AttemptView>,
    /// The times above in ms (for the dashboard's timeline).
    #[serde(skip)]
    pub started_ms: i64,
    #[serde(skip)]
    pub finished_ms: i64,
    #[serde(skip)]
    pub wake_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct AttemptView {
    pub attempt: i32,
    pub status: String,
    pub error: Option<Value>,
    pub started_at: String,
    pub finished_at: String,
    pub retry_at: Option<String>,
    #[serde(skip)]
    pub started_ms: i64,
    #[serde(skip)]
    pub finished_ms: i64,
}

type RunRow = (String, String, String, String, i32, i64, i64, Option<i64>, Option<i64>);
/// A run with its idempotency key, output, error, original run and parent run.
type RunDetailRow = (
    RunRow,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn summary(r: RunRow) -> RunSummary {
    let (id, function_id, event_id, status, attempt, run_at, created_at, started_at, finished_at) = r;
    RunSummary {
        id,
        function_id,
        event_id,
        status,
        attempt,
        created_at: rfc3339(created_at),
        started_at: started_at.map(rfc3339),
        finished_at: finished_at.map(rfc3339),
        run_at: rfc3339(run_at),
        created_ms: created_at,
        started_ms: started_at,
        finished_ms: finished_at,
    }
}

macro_rules! run_columns {
    () => {
        (
            runs::id,
            runs::function_id,
            runs::event_id,
            runs::status,
            runs::attempt,
            runs::run_at,
            runs::created_at,
            runs::started_at,
            runs::finished_at,
        )
    };
}

/// Keys whose values are credentials (OAuth tokens as Auth.js stores them, passwords, API keys), compared without
/// case. The API shows `"[redacted]"` instead; what is stored, and what handlers receive, is unchanged.
const CREDENTIAL_KEYS: [&str; 9] = [
    "access_token",
    "refresh_token",
    "id_token",
    "oauth_token",
    "oauth_token_secret",
    "accesstoken",
    "refreshtoken",
    "password",
    "client_secret",
];

/// Replaces every credential value in `v`, at any depth.
pub fn redact(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if CREDENTIAL_KEYS.contains(&k.to_ascii_lowercase().as_str()) && !val.is_null() {
                    *val = serde_json::Value::String("[redacted]".into());
                } else {
                    redact(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn redacted(mut v: serde_json::Value) -> serde_json::Value {
    redact(&mut v);
    v
}

pub async fn get_event(db: &Db, id: &str) -> Result<Option<EventView>> {
    let row: Option<(EventTuple, i64, bool)> = crate::with_conn!(db, read, |c| {
        events::table
            .filter(events::id.eq(id))
            .select((EVENT_COLUMNS, events::received_at, events::duplicate))
            .first(c)
            .await
            .optional()?
    });
    let Some((event_row, received_at, duplicate)) = row else {
        return Ok(None);
    };
    let mut event = event_json(&event_row)?;
    redact(&mut event);
    let id = event_row.0;
    let run_ids: Vec<String> = crate::with_conn!(db, read, |c| {
        runs::table
            .filter(runs::event_id.eq(&id))
            .order(runs::id)
            .select(runs::id)
            .load(c)
            .await?
    });
    let skipped: Vec<(String, String, Option<String>)> = crate::with_conn!(db, read, |c| {
        run_skips::table
            .filter(run_skips::event_id.eq(&id))
            .select((run_skips::function_id, run_skips::reason, run_skips::existing_run_id))
            .load(c)
            .await?
    });
    Ok(Some(EventView {
        id,
        event,
        received_at: rfc3339(received_at),
        duplicate,
        run_ids,
        skipped: skipped
            .into_iter()
            .map(|(function_id, reason, existing_run_id)| SkipView {
                function_id,
                reason,
                existing_run_id,
            })
            .collect(),
    }))
}

/// Which runs to list. Every field narrows; times are `created_at` in ms, inclusive.
#[derive(Debug, Default, Clone)]
pub struct RunFilter {
    pub function_id: Option<String>,
    pub status: Option<RunStatus>,
    /// The name of the event that started the run.
    pub event_name: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Free text, without case: a part of the run's id, its event's id or name, its function's id or its error.
    /// Payloads and outputs are not searched: a search over them would reveal redacted credentials a guess at a
    /// time.
    pub text: Option<String>,
    /// The page after this run (newest first).
    pub before: Option<Cursor>,
    pub limit: i64,
}

/// A position in the runs list (newest first): a run's creation time and id. As text: `<ms>.<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl Cursor {
    pub fn parse(s: &str) -> Option<Cursor> {
        let (ms, id) = s.split_once('.')?;
        Some(Cursor {
            created_at: ms.parse().ok()?,
            id: id.to_string(),
        })
        .filter(|c| !c.id.is_empty())
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.created_at, self.id)
    }
}

diesel::define_sql_function! {
    /// SQL `lower()` (both backends).
    fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// `text` as a `LIKE` pattern matching it anywhere, lowercased, its wildcards escaped with `\`.
pub fn like_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for ch in text.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// Applies a [`RunFilter`]'s narrowing fields (all but `status`, `before` and `limit`) to a boxed query on `runs`
/// (in each arm of `with_conn!`, where the query is typed by its backend).
macro_rules! narrow_runs {
    ($q:expr, $f:expr) => {{
        let mut q = $q;
        let f: &RunFilter = $f;
        if let Some(fid) = &f.function_id {
            q = q.filter(runs::function_id.eq(fid.clone()));
        }
        if let Some(name) = &f.event_name {
            q = q.filter(runs::event_id.eq_any(events::table.filter(events::name.eq(name.clone())).select(events::id)));
        }
        if let Some(from) = f.from_ms {
            q = q.filter(runs::created_at.ge(from));
        }
        if let Some(to) = f.to_ms {
            q = q.filter(runs::created_at.le(to));
        }
        if let Some(text) = f.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let p = like_pattern(text);
            let named = events::table
                .filter(lower(events::name.nullable()).like(p.clone()).escape('\\'))
                .select(events::id);
            q = q.filter(
                lower(runs::id.nullable())
                    .like(p.clone())
                    .escape('\\')
                    .or(lower(runs::event_id.nullable()).like(p.clone()).escape('\\'))
                    .or(lower(runs::function_id.nullable()).like(p.clone()).escape('\\'))
                    .or(lower(runs::error).like(p.clone()).escape('\\'))
                    .or(runs::event_id.eq_any(named).nullable()),
            );
        }
        q
    }};
}

/// The runs query of a [`RunFilter`] selecting `$columns`: every narrowing field, its status, the page after its
/// cursor, newest first, at most `limit` (in each arm of `with_conn!`, where the query is typed by its backend).
macro_rules! runs_page {
    ($c:expr, $f:expr, $columns:expr) => {{
        let f: &RunFilter = $f;
        let mut q = narrow_runs!(
            runs::table
                .select($columns)
                .order((runs::created_at.desc(), runs::id.desc()))
                .limit(f.limit)
                .into_boxed(),
            f
        );
        if let Some(s) = f.status {
            q = q.filter(runs::status.eq(s.as_str()));
        }
        if let Some(c) = &f.before {
            q = q.filter(
                runs::created_at
                    .lt(c.created_at)
                    .or(runs::created_at.eq(c.created_at).and(runs::id.lt(c.id.clone()))),
            );
        }
        q.load($c).await?
    }};
}

/// Newest first.
pub async fn list_runs(db: &Db, f: &RunFilter) -> Result<Vec<RunSummary>> {
    let rows: Vec<RunRow> = crate::with_conn!(db, read, |c| runs_page!(c, f, run_columns!()));
    Ok(rows.into_iter().map(summary).collect())
}

/// As [`list_runs`], each run with its output (as stored, not redacted) and its event as functions see it (not
/// redacted; `null` if it is gone): what the runs list's CEL filter evaluates (`store::run_search`).
pub(crate) async fn list_runs_with_payloads(db: &Db, f: &RunFilter) -> Result<Vec<(RunSummary, Value, Value)>> {
    let rows: Vec<(RunRow, Option<String>)> =
        crate::with_conn!(db, read, |c| runs_page!(c, f, (run_columns!(), runs::output)));
    let event_ids: Vec<&String> = rows.iter().map(|(r, _)| &r.2).collect();
    let stored: Vec<EventTuple> = crate::with_conn!(db, read, |c| {
        events::table
            .filter(events::id.eq_any(&event_ids))
            .select(EVENT_COLUMNS)
            .load(c)
            .await?
    });
    let mut events_by_id = BTreeMap::new();
    for row in &stored {
        events_by_id.insert(row.0.clone(), event_json(row)?);
    }
    rows.into_iter()
        .map(|(run, output)| {
            let event = events_by_id.get(&run.2).cloned().unwrap_or(Value::Null);
            let output = output
                .as_deref()
                .map(from_json_text)
                .transpose()?
                .unwrap_or(Value::Null);
            Ok((summary(run), event, output))
        })
        .collect()
}

/// How many runs `f` selects per status (its `status`, `before` and `limit` ignored), for the dashboard's counts.
pub async fn status_counts(db: &Db, f: &RunFilter) -> Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = crate::with_conn!(db, read, |c| {
        narrow_runs!(
            runs::table
                .group_by(runs::status)
                .select((runs::status, count_star()))
                .into_boxed(),
            f
        )
        .load(c)
        .await?
    });
    Ok(rows.into_iter().collect())
}

/// A page of the runs list: the runs, and the cursor of the next page if there is one.
pub async fn page_runs(db: &Db, f: &RunFilter) -> Result<(Vec<RunSummary>, Option<Cursor>)> {
    let mut wider = f.clone();
    wider.limit = f.limit + 1;
    let mut runs = list_runs(db, &wider).await?;
    let next = if runs.len() as i64 > f.limit {
        runs.truncate(f.limit as usize);
        runs.last().map(|r| Cursor {
            created_at: r.created_ms,
            id: r.id.clone(),
        })
    } else {
        None
    };
    Ok((runs, next))
}

/// The runs this run invoked (`step.invoke`), oldest first, at most `limit`.
pub async fn child_runs(db: &Db, parent: &str, limit: i64) -> Result<Vec<RunSummary>> {
    let rows: Vec<RunRow> = crate::with_conn!(db, read, |c| {
        runs::table
            .filter(runs::parent_run_id.eq(parent))
            .select(run_columns!())
            .order((runs::created_at, runs::id))
            .limit(limit)
            .load(c)
            .await?
    });
    Ok(rows.into_iter().map(summary).collect())
}

/// The reruns of a run, oldest first, at most `limit`.
pub async fn reruns_of(db: &Db, run_id: &str, limit: i64) -> Result<Vec<RunSummary>> {
    let rows: Vec<RunRow> = crate::with_conn!(db, read, |c| {
        runs::table
            .filter(runs::rerun_of.eq(run_id))
            .select(run_columns!())
            .order((runs::created_at, runs::id))
            .limit(limit)
            .load(c)
            .await?
    });
    Ok(rows.into_iter().map(summary).collect())
}

/// An event in a list.
#[derive(Debug, Serialize)]
pub struct EventSummary {
    pub id: String,
    pub name: String,
    pub received_at: String,
    #[serde(skip)]
    pub received_ms: i64,
    pub duplicate: bool,
}

/// Events received, newest first: of one name if given, received before `before` (ms, with the id as tie-break).
pub async fn list_events(
    db: &Db,
    name: Option<&str>,
    before: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<EventSummary>> {
    let rows: Vec<(String, String, i64, bool)> = crate::with_conn!(db, read, |c| {
        let mut q = events::table
            .select((events::id, events::name, events::received_at, events::duplicate))
            .order((events::received_at.desc(), events::id.desc()))
            .limit(limit)
            .into_boxed();
        if let Some(n) = name {
            q = q.filter(events::name.eq(n.to_string()));
        }
        if let Some(c) = before {
            q = q.filter(
                events::received_at
                    .lt(c.created_at)
                    .or(events::received_at.eq(c.created_at).and(events::id.lt(c.id.clone()))),
            );
        }
        q.load(c).await?
    });
    Ok(rows
        .into_iter()
        .map(|(id, name, received_ms, duplicate)| EventSummary {
            id,
            name,
            received_at: rfc3339(received_ms),
            received_ms,
            duplicate,
        })
        .collect())
}

/// One function's recent figures.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FunctionStats {
    /// Finished runs per final status.
    pub finished: BTreeMap<String, i64>,
    /// Run durations (start to finish) of the completed and failed runs, in ms.
    pub p50_ms: Option<i64>,
    pub p99_ms: Option<i64>,
}

impl FunctionStats {
    /// Completed runs over completed and failed ones (cancelled runs are an operator's decision, not counted).
    pub fn success_rate(&self) -> Option<f64> {
        let ok = self.finished.get(RunStatus::Completed.as_str()).copied().unwrap_or(0);
        let failed = self.finished.get(RunStatus::Failed.as_str()).copied().unwrap_or(0);
        (ok + failed > 0).then(|| ok as f64 / (ok + failed) as f64)
    }
}

/// The most finished runs [`function_stats`] reads.
pub const STATS_ROWS: i64 = 10_000;

/// Per function, the runs that finished since `since_ms` (the newest [`STATS_ROWS`] at most): counts per final
/// status and the p50/p99 of their durations.
pub async fn function_stats(db: &Db, since_ms: i64) -> Result<BTreeMap<String, FunctionStats>> {
    let finals: Vec<&str> = RunStatus::ALL
        .iter()
        .filter(|s| s.is_final())
        .map(|s| s.as_str())
        .collect();
    let rows: Vec<(String, String, Option<i64>, Option<i64>)> = crate::with_conn!(db, read, |c| {
        // Only `finished_at`: the partial index on it serves this (a status filter would make SQLite pick the
        // status index and sort); a run has a `finished_at` once it is final, and the loop checks the status.
        runs::table
            .filter(runs::finished_at.ge(since_ms))
            .select((runs::function_id, runs::status, runs::started_at, runs::finished_at))
            .order(runs::finished_at.desc())
            .limit(STATS_ROWS)
            .load(c)
            .await?
    });
    let mut out: BTreeMap<String, FunctionStats> = BTreeMap::new();
    let mut durations: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let counted = [RunStatus::Completed.as_str(), RunStatus::Failed.as_str()];
    for (function_id, status, started, finished) in rows {
        if !finals.contains(&status.as_str()) {
            continue;
        }
        if let (Some(s), Some(f), true) = (started, finished, counted.contains(&status.as_str())) {
            durations.entry(function_id.clone()).or_default().push((f - s).max(0));
        }
        *out.entry(function_id).or_default().finished.entry(status).or_default() += 1;
    }
    for (function_id, mut d) in durations {
        d.sort_unstable();
        let stats = out.entry(function_id).or_default();
        stats.p50_ms = percentile(&d, 50);
        stats.p99_ms = percentile(&d, 99);
    }
    Ok(out)
}

/// The nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

pub async fn get_run(db: &Db, id: &str) -> Result<Option<RunView>> {
    let row: Option<RunDetailRow> = crate::with_conn!(db, read, |c| {
        runs::table
            .filter(runs::id.eq(id))
            .select((
                run_columns!(),
                runs::idempotency_key,
                runs::output,
                runs::error,
                runs::rerun_of,
                runs::parent_run_id,
            ))
            .first(c)
            .await
            .optional()?
    });
    let Some((run, idempotency_key, output, error, rerun_of, parent_run_id)) = row else {
        return Ok(None);
    };
    type StepRow = (
        String,
        i32,
        String,
        String,
        Option<String>,
        Option<String>,
        i64,
        i64,
        Option<i64>,
        String,
        Option<i64>,
    );
    let rows: Vec<StepRow> = crate::with_conn!(db, read, |c| {
        steps::table
            .filter(steps::run_id.eq(id))
            .select((
                steps::step_key,
                steps::attempt,
                steps::name,
                steps::status,
                steps::output,
                steps::error,
                steps::started_at,
                steps::finished_at,
                steps::retry_at,
                steps::kind,
                steps::wake_at,
            ))
            .order((steps::position, steps::attempt))
            .load(c)
            .await?
    });
    let mut order: Vec<String> = Vec::new();
    let mut grouped: BTreeMap<String, Vec<StepRow>> = BTreeMap::new();
    for r in rows {
        if !grouped.contains_key(&r.0) {
            order.push(r.0.clone());
        }
        grouped.entry(r.0.clone()).or_default().push(r);
    }
    let mut steps = Vec::with_capacity(order.len());
    for key in order {
        let attempts = grouped.remove(&key).unwrap_or_default();
        let (Some(first), Some(last)) = (<[_]>::first(&attempts), <[_]>::last(&attempts)) else {
            continue;
        };
        let parse = |t: &Option<String>| t.as_deref().map(|s| from_json_text(s).map(redacted)).transpose();
        steps.push(StepView {
            id: key.clone(),
            name: last.2.clone(),
            kind: last.9.clone(),
            wake_at: last.10.map(rfc3339),
            status: last.3.clone(),
            attempts: attempts.len(),
            output: parse(&last.4)?,
            error: parse(&last.5)?,
            started_at: rfc3339(first.6),
            finished_at: rfc3339(last.7),
            duration_ms: last.7 - first.6,
            started_ms: first.6,
            finished_ms: last.7,
            wake_ms: last.10,
            history: attempts
                .iter()
                .map(|a| {
                    Ok(AttemptView {
                        attempt: a.1,
                        status: a.3.clone(),
                        error: parse(&a.5)?,
                        started_at: rfc3339(a.6),
                        finished_at: rfc3339(a.7),
                        retry_at: a.8.map(rfc3339),
                        started_ms: a.6,
                        finished_ms: a.7,
                    })
                })
                .collect::<Result<_>>()?,
        });
    }
    Ok(Some(RunView {
        summary: summary(run),
        idempotency_key,
        rerun_of,
        parent_run_id,
        output: output.as_deref().map(|s| from_json_text(s).map(redacted)).transpose()?,
        error: error.as_deref().map(from_json_text).transpose()?,
        steps,
    }))
}

/// Queued runs per function (for `/health`).
pub async fn queued_counts(db: &Db) -> Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = crate::with_conn!(db, read, |c| {
        runs::table
            .filter(runs::status.eq(RunStatus::Queued.as_str()))
            .group_by(runs::function_id)
            .select((runs::function_id, count_star()))
            .load(c)
            .await?
    });
    Ok(rows.into_iter().collect())
}

/// Runs with work to do now (queued, running — and with `suspended`, sleeping or waiting too), plus finished runs
/// whose notifications (system events, an invoking parent) are still to be delivered: how many (a `drain` that
/// times out says so).
pub async fn unfinished_runs(db: &Db, suspended: bool) -> Result<i64> {
    let mut statuses = vec![RunStatus::Queued.as_str(), RunStatus::Running.as_str()];
    let parked = [RunStatus::Sleeping.as_str(), RunStatus::Waiting.as_str()];
    if suspended {
        statuses.extend(parked);
    }
    // A sleeper or waiter whose time has come is about to run: it counts as unfinished even without `all`.
    let now = ingot_actors::time::now_ms();
    // A paused function's runs are held, not work to wait for (`actions/pauses.rs`); their notifications still count.
    let paused = super::schema::function_pauses::table.select(super::schema::function_pauses::function_id);
    Ok(crate::with_conn!(db, read, |c| {
        runs::table
            .filter(
                runs::status
                    .eq_any(&statuses)
                    .or(runs::status.eq_any(&parked).and(runs::run_at.le(now)))
                    .and(diesel::dsl::not(runs::function_id.eq_any(paused)))
                    .or(runs::notify_pending.eq(true)),
            )
            .select(count_star())
            .first(c)
            .await?
    }))
}

/// Whether any run [`unfinished_runs`] counts exists: what `drain` asks while work goes on, reading one row however
/// long the backlog. Each form of the condition is a statement of its own, so each is one index range
/// (`(status, run_at)`, the partial index of pending notifications) stopped at its first row — an `OR` of them is
/// a scan of the whole table, finished runs first. Hand-written statements, never prepared: a generic plan made
/// while the table was small would be that scan too.
pub async fn any_unfinished_run(db: &Db, suspended: bool) -> Result<bool> {
    use super::runs::status;
    use super::sql::{Param, Stmt};
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code)]
        one: i32,
    }
    let not_paused = "function_id NOT IN (SELECT function_id FROM function_pauses)";
    let mut listed = vec![RunStatus::Queued, RunStatus::Running];
    if suspended {
        listed.extend([RunStatus::Sleeping, RunStatus::Waiting]);
    }
    let mut forms = Vec::new();
    let mut q = Stmt::new("");
    let in_list = status::param_in(&mut q, &listed);
    q.push_sql(&format!(
        "SELECT 1 AS one FROM runs WHERE status {in_list} AND {not_paused} LIMIT 1"
    ));
    forms.push(q);
    if !suspended {
        // A sleeper or waiter whose time has come.
        let mut q = Stmt::new("");
        let in_list = status::param_in(&mut q, &[RunStatus::Sleeping, RunStatus::Waiting]);
        q.params.push(Param::BigInt(ingot_actors::time::now_ms()));
        let now = q.params.len();
        q.push_sql(&format!(
            "SELECT 1 AS one FROM runs WHERE status {in_list} AND run_at <= ${now} AND {not_paused} LIMIT 1"
        ));
        forms.push(q);
    }
    forms.push(Stmt::new("SELECT 1 AS one FROM runs WHERE notify_pending LIMIT 1"));
    crate::with_conn!(db, read, |c| {
        for q in &forms {
            if !q.query().load::<Found>(c).await?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let c = Cursor {
            created_at: 1_700_000_000_000,
            id: "01a23a6f-d942-7625".into(),
        };
        assert_eq!(c.to_string(), "1700000000000.01a23a6f-d942-7625");
        assert_eq!(Cursor::parse(&c.to_string()), Some(c));
        for bad in ["", "123", "x.id", "123.", ".id"] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn free_text_is_lowercased_and_its_wildcards_escaped() {
        assert_eq!(like_pattern("Card Declined"), "%card declined%");
        assert_eq!(like_pattern(r"50%_off\"), r"%50\%\_off\\%");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 99), Some(7));
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!((percentile(&v, 50), percentile(&v, 99)), (Some(50), Some(99)));
        assert_eq!(percentile(&[1, 2, 3], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 3], 99), Some(3));
    }

    #[test]
    fn the_success_rate_leaves_cancelled_runs_out() {
        let mut s = FunctionStats::default();
        assert_eq!(s.success_rate(), None);
        s.finished.insert("completed".into(), 3);
        s.finished.insert("failed".into(), 1);
        s.finished.insert("cancelled".into(), 10);
        assert_eq!(s.success_rate(), Some(0.75));
    }

    #[test]
    fn credentials_are_redacted_at_any_depth() {
        let mut v = json!({"account": {"provider": "discord", "access_token": "t1", "Refresh_Token": "t2",
            "id_token": null}, "list": [{"password": "p"}], "accessToken": "t3", "token_type": "bearer"});
        redact(&mut v);
        assert_eq!(
            v,
            json!({"account": {"provider": "discord", "access_token": "[redacted]", "Refresh_Token": "[redacted]",
                "id_token": null}, "list": [{"password": "[redacted]"}], "accessToken": "[redacted]",
                "token_type": "bearer"})
        );
    }
}
