//! Events resuming and cancelling runs, inside the event's intake transaction: an event that matches a waiting
//! `wait_for_event` completes that step and makes its run due (`Resumed`); one that matches a `cancel_on` rule
//! cancels the run. Both are guarded: a step already resolved (by its timeout, or another event) and a run already
//! finished are left alone. A `wait_for_any` step has a wait per alternative (`step_key` names the step,
//! `alternative` the one): the first event to arrive that matches any of them resolves the step with
//! `{index, event}`, and the step's other waits go.

use super::status;
use crate::store::error::Result;
use crate::store::sql::{Param, Stmt, Tx};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};
use ingot_actors::event::NewEvent;
use ingot_actors::expr::{Expr, Vars};
use ingot_actors::run::state::{RunEvent, StepStatus};
use std::collections::HashMap;

#[derive(QueryableByName)]
struct WaitRow {
    #[diesel(sql_type = Text)]
    run_id: String,
    #[diesel(sql_type = Text)]
    wait_key: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    event_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    expr: Option<String>,
    #[diesel(sql_type = Text)]
    trigger_event: String,
    #[diesel(sql_type = Nullable<Text>)]
    step_key: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    alternative: Option<i64>,
}

impl WaitRow {
    /// The step this wait resolves.
    fn step(&self) -> &str {
        self.step_key.as_deref().unwrap_or(&self.wait_key)
    }
}

/// The resolutions an intake's events make, pure: each wait with the position of the event that resolves it (the
/// first of the request that matches its name and `if`, never the run's own trigger event), then
/// [`first_per_step`].
fn resolutions(waits: Vec<WaitRow>, views: &[(&str, serde_json::Value)], now_ms: i64) -> Vec<(WaitRow, usize)> {
    let mut compiled: HashMap<String, Option<Expr>> = HashMap::new();
    let mut matched = Vec::new();
    for w in waits {
        let trigger: serde_json::Value = serde_json::from_str(&w.trigger_event).unwrap_or_default();
        let expr = match &w.expr {
            None => None,
            Some(src) => match compiled.entry(src.clone()).or_insert_with(|| Expr::compile(src).ok()) {
                Some(x) => Some(x.clone()),
                // Compiled when the wait began; unreadable now means nothing can match it.
                None => continue,
            },
        };
        let found = views.iter().position(|(name, view)| {
            *name == w.event_name
                && view["id"] != trigger["id"]
                && expr
                    .as_ref()
                    .is_none_or(|x| x.matches_with(&Vars::new(now_ms).event(&trigger).async_event(view)))
        });
        if let Some(at) = found {
            matched.push((w, at));
        }
    }
    first_per_step(matched)
}

/// Of the waits an intake's events matched (each with the position of the first event it matched), the ones to
/// apply: per run and step, the wait whose event came first in the request (then the lowest alternative) — a
/// `wait_for_any` resolves once, with the first event to arrive. Cancellations and single waits pass as they are.
fn first_per_step(matched: Vec<(WaitRow, usize)>) -> Vec<(WaitRow, usize)> {
    let mut best: HashMap<(String, String), (usize, i64)> = HashMap::new();
    for (w, at) in &matched {
        let k = (w.run_id.clone(), w.step().to_string());
        let rank = (*at, w.alternative.unwrap_or(0));
        best.entry(k).and_modify(|b| *b = (*b).min(rank)).or_insert(rank);
    }
    matched
        .into_iter()
        .filter(|(w, at)| {
            w.kind == "cancel"
                || best.get(&(w.run_id.clone(), w.step().to_string())) == Some(&(*at, w.alternative.unwrap_or(0)))
        })
        .collect()
}

#[derive(QueryableByName)]
struct FunctionRow {
    #[diesel(sql_type = Text)]
    function_id: String,
}

/// Resolves the waits the events match; returns the functions whose runs became due.
pub async fn match_waits<T: Tx>(tx: &mut T, events: &[&NewEvent], now_ms: i64) -> Result<Vec<String>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    names.sort();
    names.dedup();
    let mut q = Stmt::new(
        "SELECT run_id, wait_key, kind, event_name, expr, trigger_event, step_key, alternative FROM waits \
         WHERE expires_at > $1 AND event_name IN (",
    );
    q.params.push(Param::BigInt(now_ms));
    let marks: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            q.params.push(Param::Text(n.to_string()));
            format!("${}", i + 2)
        })
        .collect();
    q.push_sql(&format!("{}) ORDER BY created_at", marks.join(", ")));
    let waits: Vec<WaitRow> = tx.rows(&q).await?;
    if waits.is_empty() {
        return Ok(Vec::new());
    }
    let views: Vec<(&str, serde_json::Value)> = events.iter().map(|e| (e.name.as_str(), e.view())).collect();
    let mut woken = Vec::new();
    for (w, at) in resolutions(waits, &views, now_ms) {
        let view = &views[at].1;
        let resumed = match w.kind.as_str() {
            "cancel" => cancel_in(tx, &w.run_id, "a cancel_on event matched", now_ms).await?,
            _ => {
                // A wait_for_any step resolves to which alternative arrived, with its event.
                let output = match w.alternative {
                    Some(i) => serde_json::json!({ "index": i, "event": view }),
                    None => view.clone(),
                };
                resolve_wait(tx, &w.run_id, w.step(), &output, now_ms).await?
            }
        };
        woken.extend(resumed);
    }
    Ok(woken)
}

/// Completes a waiting step with `output` (a later attempt row) and resumes its run if it is waiting.
///
/// Wait fencing: the resolution is also recorded on the run's row (`runs.resolved_at`), whatever its status, before
/// the `Resumed` edge is tried. A run still `running` is then resumed by its own `waiting` transition, which
/// checks that column in the same statement ([`super::writer`]); on PostgreSQL the two transactions meet on the
/// row's lock, so whichever commits second sees the other's write: the run is never left waiting for a result
/// it already has.
pub async fn resolve_step<T: Tx>(
    tx: &mut T,
    run_id: &str,
    step_key: &str,
    status: StepStatus,
    output: Option<String>,
    error: Option<String>,
    now_ms: i64,
) -> Result<Option<String>> {
    let mut ins = Stmt::new("");
    ins.params = vec![
        Param::Text(run_id.into()),
        Param::Text(step_key.into()),
        Param::Text(status.as_str().into()),
        Param::NullText(output),
        Param::NullText(error),
        Param::BigInt(now_ms),
    ];
    let waiting = status::step_param(&mut ins, StepStatus::Waiting);
    ins.sql = format!(
        "INSERT INTO steps (run_id, step_key, attempt, position, name, status, output, error, started_at, \
         finished_at, retry_at, kind, wake_at) SELECT run_id, step_key, attempt + 1, position, name, $3, $4, $5, \
         started_at, $6, NULL, kind, NULL FROM steps WHERE run_id = $1 AND step_key = $2 AND status = {waiting} \
         ON CONFLICT DO NOTHING RETURNING run_id"
    );
    #[derive(QueryableByName)]
    struct RunRow {
        #[diesel(sql_type = Text)]
        #[allow(dead_code)]
        run_id: String,
    }
    if tx.rows::<RunRow>(&ins).await?.is_empty() {
        return Ok(None);
    }
    let mut fence = Stmt::new("UPDATE runs SET resolved_at = $2 WHERE id = $1");
    fence.params = vec![Param::Text(run_id.into()), Param::BigInt(now_ms)];
    tx.exec(&fence).await?;
    Ok(tx
        .rows::<FunctionRow>(&resume_stmt(run_id, now_ms)?)
        .await?
        .into_iter()
        .next()
        .map(|r| r.function_id))
}

/// The `Resumed` edge (waiting → queued): due now.
pub(super) fn resume_stmt(run_id: &str, now_ms: i64) -> Result<Stmt> {
    let mut up = Stmt::new("");
    up.params = vec![Param::Text(run_id.into()), Param::BigInt(now_ms)];
    let set = status::set(&mut up, &[RunEvent::Resumed])?;
    let from = status::sources(&mut up, RunEvent::Resumed)?;
    up.sql = format!(
        "UPDATE runs SET {set}, run_at = $2, updated_at = $2 WHERE id = $1 AND status {from} RETURNING function_id"
    );
    Ok(up)
}

async fn resolve_wait<T: Tx>(
    tx: &mut T,
    run_id: &str,
    key: &str,
    event: &serde_json::Value,
    now_ms: i64,
) -> Result<Option<String>> {
    let woken = resolve_step(
        tx,
        run_id,
        key,
        StepStatus::Completed,
        Some(event.to_string()),
        None,
        now_ms,
    )
    .await?;
    // The step's waits: its one wait, or every alternative of a wait_for_any.
    let mut del = Stmt::new("DELETE FROM waits WHERE run_id = $1 AND (wait_key = $2 OR step_key = $2)");
    del.params = vec![Param::Text(run_id.into()), Param::Text(key.into())];
    tx.exec(&del).await?;
    Ok(woken)
}

/// The `Cancelled` edge for a run that has not finished, whoever holds it (see [`super::cancel::cancel_many_in`]).
/// Returns the function id if the run was cancelled.
pub async fn cancel_in<T: Tx>(tx: &mut T, run_id: &str, why: &str, now_ms: i64) -> Result<Option<String>> {
    let done = super::cancel::cancel_many_in(tx, &[run_id.to_string()], why, now_ms).await?;
    Ok(done.into_iter().next().map(|r| r.function_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(run: &str, step: &str, kind: &str, alternative: Option<i64>) -> WaitRow {
        WaitRow {
            run_id: run.into(),
            wait_key: match alternative {
                Some(i) => format!("{step}#{i}"),
                None => step.into(),
            },
            kind: kind.into(),
            event_name: String::new(),
            expr: None,
            trigger_event: String::new(),
            step_key: alternative.map(|_| step.to_string()),
            alternative,
        }
    }

    fn kept(matched: Vec<(WaitRow, usize)>) -> Vec<(String, String, Option<i64>, usize)> {
        first_per_step(matched)
            .into_iter()
            .map(|(w, at)| (w.run_id.clone(), w.step().to_string(), w.alternative, at))
            .collect()
    }

    #[test]
    fn a_wait_for_any_resolves_once_with_the_first_event_to_arrive() {
        // Alternative 1 matched the request's first event, alternative 0 its third: alternative 1 wins.
        let got = kept(vec![
            (wait("r1", "approval", "event", Some(0)), 2),
            (wait("r1", "approval", "event", Some(1)), 0),
            (wait("r1", "approval", "event", Some(2)), 1),
        ]);
        assert_eq!(got, [("r1".into(), "approval".into(), Some(1), 0)]);
        // The same event matched two alternatives: the lower one.
        let got = kept(vec![
            (wait("r1", "approval", "event", Some(1)), 0),
            (wait("r1", "approval", "event", Some(0)), 0),
        ]);
        assert_eq!(got, [("r1".into(), "approval".into(), Some(0), 0)]);
    }

    #[test]
    fn an_event_resolves_a_wait_by_name_and_condition_but_never_its_own_trigger() {
        let trigger = serde_json::json!({"id": "t", "name": "pay/start", "data": {"order": 7}});
        let w = |key: &str, expr: Option<&str>| WaitRow {
            event_name: "pay/done".into(),
            expr: expr.map(str::to_string),
            trigger_event: trigger.to_string(),
            ..wait("r1", key, "event", None)
        };
        let views = [
            ("pay/done", serde_json::json!({"id": "t", "data": {"order": 7}})),
            ("pay/done", serde_json::json!({"id": "a", "data": {"order": 8}})),
            ("pay/done", serde_json::json!({"id": "b", "data": {"order": 7}})),
        ];
        let got: Vec<(String, usize)> = resolutions(
            vec![
                w("any", None),
                w("same-order", Some("async.data.order == event.data.order")),
                w("broken", Some("async.data.order ==")),
            ],
            &views,
            0,
        )
        .into_iter()
        .map(|(w, at)| (w.wait_key, at))
        .collect();
        // The trigger event itself (id "t") resolves nothing; an expression that no longer compiles matches nothing.
        assert_eq!(got, [("any".to_string(), 1), ("same-order".to_string(), 2)]);
    }

    #[test]
    fn other_steps_runs_and_cancellations_are_left_as_they_are() {
        let got = kept(vec![
            (wait("r1", "a", "event", Some(0)), 1),
            (wait("r2", "a", "event", Some(1)), 0),
            (wait("r1", "b", "event", None), 3),
            (wait("r1", "cancel:0", "cancel", None), 2),
        ]);
        assert_eq!(
            got,
            [
                ("r1".into(), "a".into(), Some(0), 1),
                ("r2".into(), "a".into(), Some(1), 0),
                ("r1".into(), "b".into(), None, 3),
                ("r1".into(), "cancel:0".into(), None, 2),
            ]
        );
    }
}
