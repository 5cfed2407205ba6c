//! Steps that suspend the run in the database: `sleep`, `sleep_until`, `wait_for_event`, `wait_for_any`,
//! `invoke`.
//!
//! Each writes a `waiting` attempt (with `wake_at`: the sleep's end or the timeout) and returns
//! [`Interrupt::Suspend`]; the run actor then persists the run as `sleeping` or `waiting` and lets go of it. When
//! the run is claimed again the step finds its waiting attempt and resolves it — a later attempt row that is
//! `completed` (or `failed` for an invoke whose child failed). An event that matches a waiting `wait_for_event`
//! is resolved inside the event's intake transaction, which also makes the run due.
//!
//! `wait_for_event` looks back: an event received up to `RuntimeConfig::wait_lookback` before the wait began
//! (default 5 s) still matches — Inngest drops these (inngest#1433). On timeout a last look over the whole window
//! catches an event that was stored while the wait was being indexed.

use super::{Memo, Step, replay};
use crate::error::{ErrorInfo, FnError, Interrupt};
use crate::event::{Draft, Origin, Target, prepare};
use crate::expr::{Expr, Vars};
use crate::run::state::{RunStatus, StepEvent, StepStatus, step_transition};
use crate::store::{StepAttempt, StepRecord, WaitSpec};
use crate::time::{now_ms, rfc3339};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::time::Duration;

/// The longest sleep or wait (Inngest's 366 days).
pub const MAX_WAIT: Duration = Duration::from_secs(366 * 24 * 3600);

/// What `wait_for_event` waits for: an event `name`, optionally matching a CEL `if` over `event` (this run's
/// trigger) and `async` (the candidate), for at most `timeout`.
#[derive(Debug, Clone)]
pub struct WaitFor<'a> {
    pub event: &'a str,
    pub if_expr: Option<&'a str>,
    pub timeout: Duration,
}

/// The most alternatives one `wait_for_any` may list.
pub const MAX_ALTERNATIVES: usize = 10;

/// One alternative of [`Step::wait_for_any`]: an event `name`, optionally matching a CEL `if` over `event` (this
/// run's trigger) and `async` (the candidate).
#[derive(Debug, Clone, Copy)]
pub struct AnyOf<'a> {
    pub event: &'a str,
    pub if_expr: Option<&'a str>,
}

/// Which alternative of a [`Step::wait_for_any`] arrived first, and its event (`{id, name, data, user, ts, v}`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Arrived {
    pub index: usize,
    pub event: Value,
}

fn suspend(status: RunStatus, at: i64) -> FnError {
    FnError::Interrupted(Interrupt::Suspend { status, at })
}

fn ms(d: Duration) -> i64 {
    d.min(MAX_WAIT).as_millis() as i64
}

impl Step {
    /// Sleeps for `duration` (at most 366 days). The run holds nothing while it sleeps and wakes on time, also
    /// after a restart.
    pub async fn sleep(&self, name: &str, duration: Duration) -> Result<(), FnError> {
        self.sleep_to(name, move |now| now + ms(duration)).await
    }

    /// Sleeps until `until`; a time in the past resolves at once.
    pub async fn sleep_until(&self, name: &str, until: DateTime<Utc>) -> Result<(), FnError> {
        let at = until.timestamp_millis();
        self.sleep_to(name, move |now| at.min(now + ms(MAX_WAIT))).await
    }

    async fn sleep_to(&self, name: &str, wake: impl FnOnce(i64) -> i64) -> Result<(), FnError> {
        let (key, position) = self.next_key(name)?;
        let now = now_ms();
        match self.memo(&key) {
            Some(Memo::Final(rec)) => return replay(name, &rec),
            Some(Memo::Waiting(rec)) => {
                let at = rec.wake_at_ms.unwrap_or(now);
                if now < at {
                    // Claimed early (`RuntimeConfig::wake_ahead`): end the sleep here, on time; otherwise the run
                    // goes back to sleep (claimed early by a poll, or by an unexpected clock).
                    let ahead = self.inner.rt.config.wake_ahead.as_millis() as i64;
                    if at - now > ahead {
                        return Err(suspend(RunStatus::Sleeping, at));
                    }
                    tokio::time::sleep(Duration::from_millis((at - now) as u64)).await;
                }
                // A sleep's end has no side effect: it is written with the run's next write.
                let rec = self.defer(self.resolution(name, position, &rec, Ok(Value::Null))?);
                return replay(name, &rec);
            }
            Some(Memo::Errored { .. }) => return Err(changed(&key, "sleep")),
            None => {}
        }
        let at = wake(now);
        let mut attempt = self.attempt(&key, name, position, "sleep", now);
        if at <= now {
            attempt.status = StepStatus::Completed;
            attempt.output = Some(Value::Null);
        } else {
            attempt.status = step_transition(StepStatus::Pending, StepEvent::Suspended).expect("pending suspends");
            attempt.output = Some(json!({ "until": rfc3339(at) }));
            attempt.wake_at_ms = Some(at);
        }
        let rec = self.persist(attempt).await?;
        match rec.status {
            StepStatus::Waiting => Err(suspend(RunStatus::Sleeping, at)),
            _ => replay(name, &rec),
        }
    }

    /// Waits for an event; resolves to the matched event (`{id, name, data, user, ts, v}`) or `None` on timeout.
    pub async fn wait_for_event(&self, name: &str, wait: WaitFor<'_>) -> Result<Option<Value>, FnError> {
        let (key, position) = self.next_key(name)?;
        let expr = wait
            .if_expr
            .map(Expr::compile)
            .transpose()
            .map_err(|e| FnError::NonRetriable(format!("step {key:?}: {e}")))?;
        let lookback = self.inner.rt.config.wait_lookback.as_millis() as i64;
        let now = now_ms();
        match self.memo(&key) {
            Some(Memo::Final(rec)) => return replay(name, &rec),
            Some(Memo::Waiting(rec)) => {
                let at = rec.wake_at_ms.unwrap_or(now);
                if now < at {
                    return Err(suspend(RunStatus::Waiting, at));
                }
                // Timed out — unless an event was stored while the wait was being indexed (a last look).
                let found = self.find(wait.event, &expr, rec.started_at_ms - lookback, at).await?;
                let rec = self
                    .resolve(name, position, &rec, Ok(found.unwrap_or(Value::Null)))
                    .await?;
                return replay(name, &rec);
            }
            Some(Memo::Errored { .. }) => return Err(changed(&key, "wait_for_event")),
            None => {}
        }
        let mut attempt = self.attempt(&key, name, position, "wait_for_event", now);
        if let Some(event) = self.find(wait.event, &expr, now - lookback, now).await? {
            attempt.status = StepStatus::Completed;
            attempt.output = Some(event);
            let rec = self.persist(attempt).await?;
            return replay(name, &rec);
        }
        let at = now + ms(wait.timeout);
        attempt.status = step_transition(StepStatus::Pending, StepEvent::Suspended).expect("pending suspends");
        attempt.output = Some(json!({ "event": wait.event, "if": wait.if_expr, "timeout_at": rfc3339(at) }));
        attempt.wake_at_ms = Some(at);
        let spec = WaitSpec {
            key: key.clone(),
            alternative: None,
            event_name: wait.event.to_string(),
            expr: wait.if_expr.map(str::to_string),
            trigger_event: self.inner.event.clone(),
            expires_at_ms: at,
        };
        let written = self
            .inner
            .rt
            .store
            .begin_wait(&self.inner.lease, &attempt, std::slice::from_ref(&spec), None)
            .await
            .map_err(Self::store_err)?;
        let rec = self.remember(written, attempt);
        if rec.status != StepStatus::Waiting {
            return replay(name, &rec);
        }
        // An event stored between the first look and the wait being indexed.
        if let Some(event) = self.find(wait.event, &expr, now - lookback, now_ms()).await? {
            let rec = self.resolve(name, position, &rec, Ok(event)).await?;
            return replay(name, &rec);
        }
        Err(suspend(RunStatus::Waiting, at))
    }

    /// Waits for the first of several events (inngest#1046, #1315): resolves to which alternative arrived and its
    /// event, or `None` on timeout. Each alternative has its event name and optional `if`; the first event to
    /// arrive that matches any of them wins, the others are dropped. Looks back like [`Step::wait_for_event`]; in
    /// the look-back the earliest match by `ts` wins (then the lower alternative).
    pub async fn wait_for_any(
        &self,
        name: &str,
        alternatives: &[AnyOf<'_>],
        timeout: Duration,
    ) -> Result<Option<Arrived>, FnError> {
        let (key, position) = self.next_key(name)?;
        let refuse = |why: String| FnError::NonRetriable(format!("step {key:?}: {why}"));
        if alternatives.is_empty() || alternatives.len() > MAX_ALTERNATIVES {
            return Err(refuse(format!(
                "wait_for_any takes 1 to {MAX_ALTERNATIVES} events, got {}",
                alternatives.len()
            )));
        }
        if alternatives.iter().any(|a| a.event.trim().is_empty()) {
            return Err(refuse("an event name is empty".into()));
        }
        let exprs = alternatives
            .iter()
            .map(|a| a.if_expr.map(Expr::compile).transpose())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| refuse(e.to_string()))?;
        let lookback = self.inner.rt.config.wait_lookback.as_millis() as i64;
        let now = now_ms();
        match self.memo(&key) {
            Some(Memo::Final(rec)) => return replay(name, &rec),
            Some(Memo::Waiting(rec)) => {
                let at = rec.wake_at_ms.unwrap_or(now);
                if now < at {
                    return Err(suspend(RunStatus::Waiting, at));
                }
                // Timed out — unless an event was stored while the waits were being indexed (a last look).
                let found = self
                    .find_any(alternatives, &exprs, rec.started_at_ms - lookback, at)
                    .await?;
                let rec = self.resolve(name, position, &rec, Ok(arrived(found))).await?;
                return replay(name, &rec);
            }
            Some(Memo::Errored { .. }) => return Err(changed(&key, "wait_for_any")),
            None => {}
        }
        let mut attempt = self.attempt(&key, name, position, "wait_for_event", now);
        if let Some(found) = self.find_any(alternatives, &exprs, now - lookback, now).await? {
            attempt.status = StepStatus::Completed;
            attempt.output = Some(arrived(Some(found)));
            let rec = self.persist(attempt).await?;
            return replay(name, &rec);
        }
        let at = now + ms(timeout);
        attempt.status = step_transition(StepStatus::Pending, StepEvent::Suspended).expect("pending suspends");
        let listed: Vec<Value> = alternatives
            .iter()
            .map(|a| json!({ "event": a.event, "if": a.if_expr }))
            .collect();
        attempt.output = Some(json!({ "any_of": listed, "timeout_at": rfc3339(at) }));
        attempt.wake_at_ms = Some(at);
        let specs: Vec<WaitSpec> = alternatives
            .iter()
            .enumerate()
            .map(|(i, a)| WaitSpec {
                key: format!("{key}#any:{i}"),
                alternative: Some(i as u32),
                event_name: a.event.to_string(),
                expr: a.if_expr.map(str::to_string),
                trigger_event: self.inner.event.clone(),
                expires_at_ms: at,
            })
            .collect();
        let written = self
            .inner
            .rt
            .store
            .begin_wait(&self.inner.lease, &attempt, &specs, None)
            .await
            .map_err(Self::store_err)?;
        let rec = self.remember(written, attempt);
        if rec.status != StepStatus::Waiting {
            return replay(name, &rec);
        }
        // An event stored between the first look and the waits being indexed.
        if let Some(found) = self.find_any(alternatives, &exprs, now - lookback, now_ms()).await? {
            let rec = self.resolve(name, position, &rec, Ok(arrived(Some(found)))).await?;
            return replay(name, &rec);
        }
        Err(suspend(RunStatus::Waiting, at))
    }

    /// Starts `function_id` as a child run with `data` and resolves to its output. The child's failure, a timeout
    /// or an unknown function is a non-retriable error here (Inngest's semantics: no compounding retries).
    pub async fn invoke(
        &self,
        name: &str,
        function_id: &str,
        data: Value,
        timeout: Duration,
    ) -> Result<Value, FnError> {
        let (key, position) = self.next_key(name)?;
        let now = now_ms();
        let failed = |rec: &StepRecord| {
            FnError::NonRetriable(format!(
                "invoked function {function_id:?} failed: {}",
                rec.error
                    .as_ref()
                    .map(|e| e.message.as_str())
                    .unwrap_or("unknown error")
            ))
        };
        match self.memo(&key) {
            Some(Memo::Final(rec)) if rec.status == StepStatus::Failed => return Err(failed(&rec)),
            Some(Memo::Final(rec)) => return replay(name, &rec),
            Some(Memo::Waiting(rec)) => {
                let at = rec.wake_at_ms.unwrap_or(now);
                if now < at {
                    return Err(suspend(RunStatus::Waiting, at));
                }
                // Timed out — unless the child finished and its notification has not been delivered yet.
                let child = rec
                    .output
                    .as_ref()
                    .and_then(|o| o["run_id"].as_str())
                    .unwrap_or_default();
                let outcome = self.inner.rt.store.run_outcome(child).await.map_err(Self::store_err)?;
                let rec = match outcome {
                    Some(run) if run.status == RunStatus::Completed => {
                        let out = run.output.unwrap_or(Value::Null);
                        self.resolve(name, position, &rec, Ok(out)).await?
                    }
                    Some(run) if run.status.is_final() => {
                        let error = run
                            .error
                            .unwrap_or_else(|| ErrorInfo::new("Error", run.status.as_str()));
                        self.resolve(name, position, &rec, Err(error)).await?
                    }
                    _ => {
                        let error = ErrorInfo::new("InvokeTimeout", format!("no result within {:?}", rec.wake_at_ms));
                        self.resolve(name, position, &rec, Err(error)).await?
                    }
                };
                if rec.status == StepStatus::Failed {
                    return Err(failed(&rec));
                }
                return replay(name, &rec);
            }
            Some(Memo::Errored { .. }) => return Err(changed(&key, "invoke")),
            None => {}
        }
        let Some(target) = self.inner.rt.registry.get(function_id).cloned() else {
            return Err(FnError::NonRetriable(format!(
                "step {key:?}: cannot invoke {function_id:?}: no such function"
            )));
        };
        let run_id = &self.inner.lease.run_id;
        let child_run_id =
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("{run_id}/{key}").as_bytes()).to_string();
        let at = now + ms(timeout);
        let mut data = if data.is_object() { data } else { json!({}) };
        data["_inngest"] = json!({
            "fn_id": function_id,
            "source_fn_id": self.inner.function_id,
            "source_run_id": run_id,
            "correlation_id": format!("{run_id}.{key}"),
            "expire": at,
        });
        let dedupe_id = format!("invoke:{child_run_id}");
        let draft = Draft {
            external_id: Some(dedupe_id),
            ts: Some(now),
            ..Draft::new("inngest/function.invoked", data)
        };
        let to = Target::Function {
            function_id,
            flow: Some(&target.flow),
            run_id: Some(&child_run_id),
            parent: Some((run_id, &key)),
        };
        let child = prepare(draft, Origin::System, to, now).map_err(|invalid| {
            FnError::NonRetriable(format!("step {key:?}: cannot invoke {function_id:?}: {invalid}"))
        })?;
        let mut attempt = self.attempt(&key, name, position, "invoke", now);
        attempt.status = step_transition(StepStatus::Pending, StepEvent::Suspended).expect("pending suspends");
        attempt.output = Some(json!({ "function_id": function_id, "run_id": child_run_id, "timeout_at": rfc3339(at) }));
        attempt.wake_at_ms = Some(at);
        let written = self
            .inner
            .rt
            .store
            .begin_wait(&self.inner.lease, &attempt, &[], Some(&child))
            .await
            .map_err(Self::store_err)?;
        let rec = self.remember(written, attempt);
        match rec.status {
            StepStatus::Waiting => {
                self.inner.rt.wake(vec![function_id.to_string()]);
                Err(suspend(RunStatus::Waiting, at))
            }
            StepStatus::Failed => Err(failed(&rec)),
            _ => replay(name, &rec),
        }
    }

    /// A fresh attempt of a waiting-kind step, to fill in.
    fn attempt(&self, key: &str, name: &str, position: u32, kind: &'static str, now: i64) -> StepAttempt {
        StepAttempt {
            key: key.to_string(),
            name: name.to_string(),
            attempt: 0,
            position,
            status: StepStatus::Pending,
            output: None,
            error: None,
            started_at_ms: now,
            finished_at_ms: now,
            retry_at_ms: None,
            kind,
            wake_at_ms: None,
        }
    }

    /// Resolves a waiting step with a later attempt row: completed with a value, or failed (an invoked child that
    /// failed or timed out). If the intake resolved it first, that wins.
    async fn resolve(
        &self,
        name: &str,
        position: u32,
        waiting: &StepRecord,
        outcome: Result<Value, ErrorInfo>,
    ) -> Result<StepRecord, FnError> {
        let attempt = self.resolution(name, position, waiting, outcome)?;
        self.persist(attempt).await
    }

    /// The attempt that resolves `waiting`.
    fn resolution(
        &self,
        name: &str,
        position: u32,
        waiting: &StepRecord,
        outcome: Result<Value, ErrorInfo>,
    ) -> Result<StepAttempt, FnError> {
        let mut attempt = self.attempt(&waiting.key, name, position, kind_of(waiting), waiting.started_at_ms);
        attempt.attempt = waiting.attempt + 1;
        let event = match outcome {
            Ok(value) => {
                attempt.output = Some(value);
                StepEvent::Resolved
            }
            Err(error) => {
                attempt.error = Some(error);
                StepEvent::FatalError
            }
        };
        attempt.status =
            step_transition(StepStatus::Waiting, event).map_err(|e| FnError::NonRetriable(e.to_string()))?;
        attempt.finished_at_ms = now_ms();
        Ok(attempt)
    }

    /// The first event named `name` received in `[from, to]` that matches `expr`, other than this run's trigger.
    async fn find(&self, name: &str, expr: &Option<Expr>, from: i64, to: i64) -> Result<Option<Value>, FnError> {
        let events = self
            .inner
            .rt
            .store
            .recent_events(name, from, to)
            .await
            .map_err(Self::store_err)?;
        let trigger = &self.inner.event;
        Ok(events.into_iter().find(|e| {
            e["id"] != trigger["id"]
                && expr
                    .as_ref()
                    .is_none_or(|x| x.matches_with(&Vars::new(now_ms()).event(trigger).async_event(e)))
        }))
    }
}

impl Step {
    /// The earliest match (by `ts`, then the lower alternative) of any alternative in `[from, to]`.
    async fn find_any(
        &self,
        alternatives: &[AnyOf<'_>],
        exprs: &[Option<Expr>],
        from: i64,
        to: i64,
    ) -> Result<Option<(usize, Value)>, FnError> {
        let mut found = Vec::new();
        for (i, (a, expr)) in alternatives.iter().zip(exprs).enumerate() {
            if let Some(e) = self.find(a.event, expr, from, to).await? {
                found.push((i, e));
            }
        }
        Ok(earliest(found))
    }
}

/// Of the alternatives' first matches, the one to resolve with: the earliest `ts`, then the lower alternative.
fn earliest(found: Vec<(usize, Value)>) -> Option<(usize, Value)> {
    found
        .into_iter()
        .min_by_key(|(i, e)| (e["ts"].as_i64().unwrap_or(i64::MAX), *i))
}

/// A wait_for_any step's output: `{index, event}`, or null on timeout.
fn arrived(found: Option<(usize, Value)>) -> Value {
    found.map_or(Value::Null, |(index, event)| json!({ "index": index, "event": event }))
}

fn kind_of(rec: &StepRecord) -> &'static str {
    match rec.kind.as_str() {
        "sleep" => "sleep",
        "wait_for_event" => "wait_for_event",
        "invoke" => "invoke",
        _ => "run",
    }
}

fn changed(key: &str, kind: &str) -> FnError {
    FnError::NonRetriable(format!(
        "step {key:?} ran as a plain step before and is now a {kind} step: the function's steps changed"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_look_back_takes_the_earliest_match_then_the_lower_alternative() {
        let e = |ts: i64| json!({ "name": "x", "ts": ts });
        assert_eq!(earliest(vec![(0, e(20)), (1, e(10)), (2, e(30))]), Some((1, e(10))));
        assert_eq!(earliest(vec![(2, e(10)), (1, e(10))]), Some((1, e(10))));
        assert_eq!(earliest(Vec::new()), None);
    }

    #[test]
    fn the_output_reads_back_as_arrived() {
        let out = arrived(Some((1, json!({ "name": "b" }))));
        let back: Option<Arrived> = serde_json::from_value(out).unwrap();
        assert_eq!(
            back,
            Some(Arrived {
                index: 1,
                event: json!({ "name": "b" })
            })
        );
        let none: Option<Arrived> = serde_json::from_value(arrived(None)).unwrap();
        assert_eq!(none, None);
    }
}
