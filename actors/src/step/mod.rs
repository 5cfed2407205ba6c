//! The step tools a handler uses. Every tool is memoized: its result is persisted before the handler continues,
//! and a step persisted as final (completed or failed) never executes again — not on retry, not after a crash;
//! its stored result is returned instead.
//!
//! - [`Step::run`]: run code once (retried on its own). Several awaited together run concurrently.
//!   [`Step::run_with`] gives the step its own retry count and backoff ([`StepOptions`]).
//! - [`Step::pure`]: a step without side effects (a computation); memoized the same, but its result is written
//!   with the run's next write instead of a write of its own.
//! - [`Step::run_tx`]: database work that commits with its memo, in one transaction.
//! - [`Step::sleep`] / [`Step::sleep_until`], [`Step::wait_for_event`], [`Step::invoke`] (in [`wait`]): the run
//!   suspends in the database and holds nothing while it waits.
//! - [`Step::send_event`] (in [`send`]): durable fan-out with ids fixed the first time.
//!
//! Step names may repeat (a loop): the first use is keyed `name`, later ones `name:1`, `name:2`, as Inngest does.
//! A run may reach at most [`MAX_STEPS`] steps and keep at most [`MAX_STATE_BYTES`] of step outputs.

mod options;
mod send;
mod wait;

pub use options::StepOptions;
pub use send::SendEvent;
pub use wait::{AnyOf, Arrived, WaitFor};

use crate::error::{ErrorInfo, FnError, Interrupt, StepError};
use crate::run::state::{StepEvent, StepStatus, step_transition};
use crate::runtime::Runtime;
use crate::store::{Lease, StepAttempt, StepRecord, StepWrite, StoreError, TxStepWrite, TxWork};
use crate::time::now_ms;
use futures_util::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use tracing::Instrument;

/// Most steps one run may reach (Inngest's limit).
pub const MAX_STEPS: u32 = 1_000;
/// Most bytes of step outputs one run may hold (Inngest's 32 MiB run state).
pub const MAX_STATE_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone)]
enum Memo {
    Final(StepRecord),
    Errored {
        attempts: u32,
    },
    /// A sleep/wait/invoke that began and has not resolved: its waiting attempt.
    Waiting(StepRecord),
}

struct Inner {
    rt: Arc<Runtime>,
    lease: Lease,
    function_id: String,
    /// The run's trigger event (CEL's `event` in waits).
    event: serde_json::Value,
    retries: u32,
    memo: RefCell<HashMap<String, Memo>>,
    seen: RefCell<HashMap<String, u32>>,
    calls: Cell<u32>,
    state_bytes: Cell<usize>,
    /// `timeouts.finish`: no step starts after this (ms since epoch).
    deadline_ms: Cell<Option<i64>>,
    /// Attempts without side effects (a sleep's end, a pure or read step's result) not yet written: they go with
    /// the next step's write (a transactional step's in its own transaction) or with the run's transition. A crash
    /// before that loses nothing — the replayed sleep is over and ends again, the pure step computes the same
    /// again, the read step reads again before anything was decided on its first read.
    deferred: RefCell<Vec<StepAttempt>>,
}

/// Step tools of one run. Cheap to clone; lives on the run actor's thread.
#[derive(Clone)]
pub struct Step {
    inner: Rc<Inner>,
}

impl Step {
    pub(crate) fn new(
        rt: Arc<Runtime>,
        lease: Lease,
        function_id: String,
        event: serde_json::Value,
        retries: u32,
        records: Vec<StepRecord>,
    ) -> Step {
        let mut memo: HashMap<String, Memo> = HashMap::new();
        let mut state_bytes = 0;
        for rec in records {
            match rec.status {
                StepStatus::Completed | StepStatus::Failed => {
                    state_bytes += rec.output.as_ref().map(json_len).unwrap_or(0);
                    memo.insert(rec.key.clone(), Memo::Final(rec));
                }
                StepStatus::Waiting => {
                    if !matches!(memo.get(&rec.key), Some(Memo::Final(_))) {
                        memo.insert(rec.key.clone(), Memo::Waiting(rec));
                    }
                }
                StepStatus::Errored | StepStatus::Pending => {
                    let attempts = rec.attempt + 1;
                    let entry = memo.entry(rec.key.clone()).or_insert(Memo::Errored { attempts });
                    if let Memo::Errored { attempts: a } = entry {
                        *a = (*a).max(attempts);
                    }
                }
            }
        }
        Step {
            inner: Rc::new(Inner {
                rt,
                lease,
                function_id,
                event,
                retries,
                memo: RefCell::new(memo),
                seen: RefCell::new(HashMap::new()),
                calls: Cell::new(0),
                state_bytes: Cell::new(state_bytes),
                deadline_ms: Cell::new(None),
                deferred: RefCell::new(Vec::new()),
            }),
        }
    }

    /// The deferred attempts, for the run's transition to write (see `Inner::deferred`).
    pub(crate) fn take_deferred(&self) -> Vec<StepAttempt> {
        self.inner.deferred.take()
    }

    /// Records an attempt that has no side effect (a sleep's end, a pure or read step) without a write of its own.
    fn defer(&self, attempt: StepAttempt) -> StepRecord {
        self.inner.deferred.borrow_mut().push(attempt.clone());
        self.remember(StepWrite::Written, attempt)
    }

    pub(crate) fn with_deadline(self, deadline_ms: Option<i64>) -> Step {
        self.inner.deadline_ms.set(deadline_ms);
        self
    }

    /// The next step's key and position; refuses a step past the run's step limit.
    fn next_key(&self, name: &str) -> Result<(String, u32), FnError> {
        if self.inner.deadline_ms.get().is_some_and(|d| now_ms() >= d) {
            return Err(FnError::Cancelled(format!(
                "the run did not finish within timeouts.finish (before step {name:?})"
            )));
        }
        let position = self.inner.calls.get();
        if position >= MAX_STEPS {
            return Err(FnError::NonRetriable(format!(
                "the run reached the limit of {MAX_STEPS} steps (at step {name:?})"
            )));
        }
        self.inner.calls.set(position + 1);
        let mut seen = self.inner.seen.borrow_mut();
        let n = seen.entry(name.to_string()).or_insert(0);
        let key = if *n == 0 {
            name.to_string()
        } else {
            format!("{name}:{n}")
        };
        *n += 1;
        Ok((key, position))
    }

    fn memo(&self, key: &str) -> Option<Memo> {
        self.inner.memo.borrow().get(key).cloned()
    }

    fn store_err(e: StoreError) -> FnError {
        match e {
            StoreError::LeaseLost => FnError::Interrupted(Interrupt::LeaseLost),
            StoreError::Database(m) => FnError::StoreUnavailable(m),
            other => FnError::Store(other.to_string()),
        }
    }

    /// Persists an attempt and remembers what the store kept (ours, or a final attempt recorded first).
    /// The deferred attempts (a sleep's end, pure and read steps) go in the same write, before it.
    async fn persist(&self, record: StepAttempt) -> Result<StepRecord, FnError> {
        self.check_state_budget(&record)?;
        let earlier = self.take_deferred();
        let written = self
            .inner
            .rt
            .store
            .record_step_after(&self.inner.lease, &earlier, &record)
            .await
            .map_err(Self::store_err)?;
        Ok(self.remember(written, record))
    }

    /// Refuses an attempt whose output would take the run's state past [`MAX_STATE_BYTES`].
    fn check_state_budget(&self, record: &StepAttempt) -> Result<(), FnError> {
        if let Some(out) = &record.output {
            let total = self.inner.state_bytes.get() + json_len(out);
            if total > MAX_STATE_BYTES {
                return Err(FnError::NonRetriable(format!(
                    "step {:?}: the run's state would exceed {} MiB",
                    record.key,
                    MAX_STATE_BYTES / (1024 * 1024)
                )));
            }
        }
        Ok(())
    }

    fn remember(&self, written: StepWrite, record: StepAttempt) -> StepRecord {
        let rec = match written {
            StepWrite::AlreadyFinal(rec) => rec,
            StepWrite::Written => StepRecord {
                key: record.key.clone(),
                attempt: record.attempt,
                status: record.status,
                output: record.output,
                error: record.error,
                kind: record.kind.to_string(),
                wake_at_ms: record.wake_at_ms,
                started_at_ms: record.started_at_ms,
            },
        };
        let memo = match rec.status {
            StepStatus::Completed | StepStatus::Failed => {
                let bytes = rec.output.as_ref().map(json_len).unwrap_or(0);
                self.inner.state_bytes.set(self.inner.state_bytes.get() + bytes);
                Memo::Final(rec.clone())
            }
            StepStatus::Waiting => Memo::Waiting(rec.clone()),
            _ => Memo::Errored {
                attempts: rec.attempt + 1,
            },
        };
        self.inner.memo.borrow_mut().insert(rec.key.clone(), memo);
        rec
    }

    /// Runs `code` once, durably. See the module docs.
    pub async fn run<T, F, Fut>(&self, name: &str, code: F) -> Result<T, FnError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        self.run_kind(name, "run", StepOptions::default(), code).await
    }

    /// [`Step::run`] with this step's own retry count and backoff, overriding the function's (see
    /// [`StepOptions`]). Options out of bounds fail the run (a programming error, not worth a retry).
    pub async fn run_with<T, F, Fut>(&self, name: &str, options: StepOptions, code: F) -> Result<T, FnError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        self.run_kind(name, "run", options, code).await
    }

    /// A step whose code has no side effect: a computation over what the run already holds (a template rendered, a
    /// value shaped). It is memoized as [`Step::run`] is — recorded with its output, replayed, never run again once
    /// written — but its completed attempt is not written on its own: it goes with the run's next write (the next
    /// step's record, or the run's transition), as a sleep's end does. A crash before that write runs it again,
    /// which changes nothing because it changed nothing. A failed attempt is written at once, as any step's.
    ///
    /// The code is synchronous: it cannot await I/O. Whatever it does must be safe to do again — use
    /// [`Step::run`] for anything that leaves the process or the run.
    pub async fn pure<T, F>(&self, name: &str, code: F) -> Result<T, FnError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Result<T, StepError>,
    {
        let s = match self.begin(name, "run", StepOptions::default())? {
            Begin::Replay(rec) => return replay(name, &rec),
            Begin::Run(s) => s,
        };
        let result = s.span.in_scope(|| std::panic::catch_unwind(AssertUnwindSafe(code)));
        self.settle_as(s, code_output(result), None, Written::WithNextWrite)
            .await
    }

    /// A step whose work only reads the database (a lookup the next steps build on): memoized as [`Step::run`]
    /// is, but, as a [`Step::pure`] step's, its completed attempt goes with the run's next write instead of a
    /// commit of its own. The store runs `work` — built by the application, as for [`Step::run_tx`] — on a read
    /// connection in a read-only transaction ([`crate::store::RunStore::run_read`]), where a write is refused.
    /// A crash before the next write reads again; nothing was decided on the first read, because whatever the run
    /// does next with it is written after (or with) this record. A failed attempt is written at once.
    pub async fn run_read<T>(&self, name: &str, work: TxWork) -> Result<T, FnError>
    where
        T: DeserializeOwned,
    {
        let s = match self.begin(name, "run", StepOptions::default())? {
            Begin::Replay(rec) => return replay(name, &rec),
            Begin::Run(s) => s,
        };
        let result = self
            .inner
            .rt
            .store
            .run_read(work)
            .instrument(s.span.clone())
            .await
            .map_err(Self::store_err)?;
        self.settle_as(s, result, None, Written::WithNextWrite).await
    }

    /// What every code-running step does before its code: check the options, take the key, replay a final
    /// attempt, refuse a step that changed kind, refuse to start during a shutdown.
    fn begin(&self, name: &str, kind: &'static str, options: StepOptions) -> Result<Begin, FnError> {
        options
            .check()
            .map_err(|e| FnError::NonRetriable(format!("step {name:?}: {e}")))?;
        let (retries, backoff) = options.resolve(self.inner.retries, self.inner.rt.config.backoff);
        let (key, position) = self.next_key(name)?;
        let (from, attempt) = match self.memo(&key) {
            Some(Memo::Final(rec)) => return Ok(Begin::Replay(rec)),
            Some(Memo::Errored { attempts }) => (StepStatus::Errored, attempts),
            Some(Memo::Waiting(_)) => {
                return Err(FnError::NonRetriable(format!(
                    "step {key:?} was a waiting step and is now a {kind} step: the function's steps changed"
                )));
            }
            None => (StepStatus::Pending, 0),
        };
        if self.inner.rt.is_shutting_down() {
            return Err(FnError::Interrupted(Interrupt::Shutdown));
        }
        let span = tracing::info_span!("step", run_id = %self.inner.lease.run_id, function_id = %self.inner.function_id, step = %key, attempt);
        Ok(Begin::Run(Started {
            key,
            name: name.to_string(),
            position,
            kind,
            from,
            attempt,
            retries,
            backoff,
            span,
            started_at_ms: now_ms(),
            timer: std::time::Instant::now(),
        }))
    }

    async fn run_kind<T, F, Fut>(
        &self,
        name: &str,
        kind: &'static str,
        options: StepOptions,
        code: F,
    ) -> Result<T, FnError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let s = match self.begin(name, kind, options)? {
            Begin::Replay(rec) => return replay(name, &rec),
            Begin::Run(s) => s,
        };
        let result = AssertUnwindSafe(code()).catch_unwind().instrument(s.span.clone()).await;
        self.settle(s, code_output(result), None).await
    }

    /// Runs a transactional step: `work` is database work the store executes inside the transaction that records
    /// the step's completed attempt, so its writes and its memo commit together or not at all — exactly-once
    /// database effects. The store batches such steps from many runs into one transaction, each isolated on its
    /// own (a savepoint), so one failing step does not fail the others. The runtime does not know what `work` is:
    /// the application builds it for its store ([`TxWork`]); what the work returns is the step's output.
    ///
    /// Replay and retries are those of [`Step::run`]: a completed step returns its stored output without running
    /// again; a failed attempt's writes are rolled back, and the attempt is classified (retried, or failed for
    /// good) and recorded as any step's.
    pub async fn run_tx<T>(&self, name: &str, work: TxWork) -> Result<T, FnError>
    where
        T: DeserializeOwned,
    {
        self.run_tx_with(name, StepOptions::default(), work).await
    }

    /// [`Step::run_tx`] with this step's own retry count and backoff ([`StepOptions`]).
    pub async fn run_tx_with<T>(&self, name: &str, options: StepOptions, work: TxWork) -> Result<T, FnError>
    where
        T: DeserializeOwned,
    {
        let s = match self.begin(name, "run", options)? {
            Begin::Replay(rec) => return replay(name, &rec),
            Begin::Run(s) => s,
        };
        // The deferred attempts (pure and read steps, a sleep's end) go in the step's own transaction.
        let earlier = self.take_deferred();
        let budget = MAX_STATE_BYTES.saturating_sub(self.inner.state_bytes.get());
        let completed = StepAttempt {
            key: s.key.clone(),
            name: s.name.clone(),
            attempt: s.attempt,
            position: s.position,
            status: step_transition(s.from, StepEvent::Succeeded).map_err(|e| FnError::NonRetriable(e.to_string()))?,
            output: None,
            error: None,
            started_at_ms: s.started_at_ms,
            finished_at_ms: s.started_at_ms,
            retry_at_ms: None,
            kind: s.kind,
            wake_at_ms: None,
        };
        let outcome = self
            .inner
            .rt
            .store
            .record_tx_step(&self.inner.lease, &earlier, &completed, work, budget)
            .instrument(s.span.clone())
            .await
            .map_err(Self::store_err)?;
        match outcome {
            TxStepWrite::Written(output) => {
                let written = StepAttempt {
                    output: Some(output.clone()),
                    finished_at_ms: now_ms(),
                    ..completed
                };
                self.settle(s, Ok(output), Some((StepWrite::Written, written))).await
            }
            TxStepWrite::AlreadyFinal(rec) => {
                let output = rec.output.clone().unwrap_or(serde_json::Value::Null);
                self.settle(s, Ok(output), Some((StepWrite::AlreadyFinal(rec), completed)))
                    .await
            }
            TxStepWrite::Failed(e) => self.settle(s, Err(e), None).await,
        }
    }

    /// After a step's code: classify the attempt, persist it (unless the store already did, `persisted`: a
    /// transactional step's), report it and hand the handler its value.
    async fn settle<T: DeserializeOwned>(
        &self,
        s: Started,
        result: Result<serde_json::Value, StepError>,
        persisted: Option<(StepWrite, StepAttempt)>,
    ) -> Result<T, FnError> {
        self.settle_as(s, result, persisted, Written::Now).await
    }

    /// [`Step::settle`], with when a completed attempt is written (`written`: [`Written::WithNextWrite`] for a
    /// pure or read step).
    async fn settle_as<T: DeserializeOwned>(
        &self,
        s: Started,
        result: Result<serde_json::Value, StepError>,
        persisted: Option<(StepWrite, StepAttempt)>,
        written: Written,
    ) -> Result<T, FnError> {
        let Started {
            key,
            name,
            position,
            kind,
            from,
            attempt,
            retries,
            backoff,
            span,
            started_at_ms,
            timer,
        } = s;
        let name = name.as_str();
        let finished_at_ms = now_ms();
        if let Some(m) = self.inner.rt.metrics.function(&self.inner.function_id) {
            m.step_seconds.observe_duration(timer.elapsed());
        }
        let (event, output, error) = match result {
            Ok(json) => (StepEvent::Succeeded, Some(json), None),
            Err(e) => (
                StepEvent::classify(false, e.is_retryable(), attempt, retries),
                None,
                Some(e),
            ),
        };
        let status = step_transition(from, event).map_err(|e| FnError::NonRetriable(e.to_string()))?;
        let retry_at_ms = match (&status, &error) {
            (StepStatus::Errored, Some(StepError::Retryable { retry_after, .. })) => {
                let delay = backoff.delay_for(attempt, *retry_after);
                Some(finished_at_ms + delay.as_millis() as i64)
            }
            _ => None,
        };
        let rec = match persisted {
            Some((written, attempt)) => self.remember(written, attempt),
            None => {
                let record = StepAttempt {
                    key: key.clone(),
                    name: name.to_string(),
                    attempt,
                    position,
                    status,
                    output,
                    error: error.as_ref().map(ErrorInfo::from_step),
                    started_at_ms,
                    finished_at_ms,
                    retry_at_ms,
                    kind,
                    wake_at_ms: None,
                };
                if written == Written::WithNextWrite && status == StepStatus::Completed {
                    self.check_state_budget(&record)?;
                    self.defer(record)
                } else {
                    self.persist(record).await?
                }
            }
        };
        if let Some(sink) = self.inner.rt.trace_sink() {
            sink.step_attempt(&crate::trace::StepAttemptReport {
                run_id: &self.inner.lease.run_id,
                function_id: &self.inner.function_id,
                step_key: &key,
                step_name: name,
                attempt,
                started_at_ms,
                finished_at_ms,
                status: rec.status.as_str(),
                error: error.as_ref().map(|e| e.message()),
            });
        }
        let _enter = span.enter();
        match rec.status {
            StepStatus::Errored => {
                tracing::warn!(error = %error.as_ref().map(|e| e.message()).unwrap_or_default(), retry_at_ms, "step errored, will retry");
                Err(FnError::Interrupted(Interrupt::RetryAt(
                    retry_at_ms.unwrap_or(finished_at_ms),
                )))
            }
            _ => {
                if rec.status == StepStatus::Failed {
                    tracing::warn!(error = %rec.error.as_ref().map(|e| e.message.as_str()).unwrap_or_default(), "step failed");
                } else {
                    tracing::debug!(duration_ms = finished_at_ms - started_at_ms, "step completed");
                }
                replay(name, &rec)
            }
        }
    }
}

/// When a step's completed attempt is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// Before the handler goes on (every step with code that may have side effects).
    Now,
    /// With the run's next write ([`Step::pure`], [`Step::run_read`]).
    WithNextWrite,
}

/// How a code-running step starts: replaying a final attempt, or running (an attempt under way).
enum Begin {
    Replay(StepRecord),
    Run(Started),
}

/// An attempt under way.
struct Started {
    key: String,
    name: String,
    position: u32,
    kind: &'static str,
    from: StepStatus,
    attempt: u32,
    retries: u32,
    backoff: crate::backoff::Backoff,
    span: tracing::Span,
    started_at_ms: i64,
    timer: std::time::Instant,
}

/// The value a final step stands for: its output, or its failure as the error the handler sees.
fn replay<T: DeserializeOwned>(name: &str, rec: &StepRecord) -> Result<T, FnError> {
    match rec.status {
        StepStatus::Completed => {
            let value = rec.output.clone().unwrap_or(serde_json::Value::Null);
            serde_json::from_value(value).map_err(|e| {
                FnError::NonRetriable(format!(
                    "step {:?}: stored output does not match its type: {e}",
                    rec.key
                ))
            })
        }
        _ => Err(FnError::StepFailed {
            step: name.to_string(),
            message: rec.error.as_ref().map(|e| e.message.clone()).unwrap_or_default(),
        }),
    }
}

/// What a step's code gave, as the attempt's value: a panic is a retryable error, an output that is not JSON a
/// fatal one.
fn code_output<T: Serialize>(
    result: Result<Result<T, StepError>, Box<dyn std::any::Any + Send>>,
) -> Result<serde_json::Value, StepError> {
    result
        .unwrap_or_else(|panic| {
            Err(StepError::retryable(format!(
                "step panicked: {}",
                panic_message(&panic)
            )))
        })
        .and_then(|v| serde_json::to_value(v).map_err(|e| StepError::fatal(format!("step output is not JSON: {e}"))))
}

fn json_len(v: &serde_json::Value) -> usize {
    serde_json::to_string(v).map(|s| s.len()).unwrap_or(0)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
