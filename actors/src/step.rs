//! The step tools a handler uses. `step.run(name, code)` is memoized: its result is persisted before the
//! handler continues, and a step persisted as final (completed or failed) never executes again — not on retry,
//! not after a crash; its stored result is returned instead.
//!
//! Step names may repeat (a loop): the first use is keyed `name`, later ones `name:1`, `name:2`, as Inngest does.

use crate::error::{ErrorInfo, FnError, Interrupt, StepError};
use crate::run::state::{StepEvent, StepStatus, step_transition};
use crate::runtime::Runtime;
use crate::store::{Lease, StepAttempt, StepRecord, StepWrite, StoreError};
use crate::time::now_ms;
use futures_util::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use tracing::Instrument;

#[derive(Debug, Clone)]
enum Memo {
    Final(StepRecord),
    Errored { attempts: u32 },
}

struct Inner {
    rt: Arc<Runtime>,
    lease: Lease,
    function_id: String,
    retries: u32,
    memo: RefCell<HashMap<String, Memo>>,
    seen: RefCell<HashMap<String, u32>>,
    calls: std::cell::Cell<u32>,
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
        retries: u32,
        records: Vec<StepRecord>,
    ) -> Step {
        let mut memo: HashMap<String, Memo> = HashMap::new();
        for rec in records {
            match rec.status {
                StepStatus::Completed | StepStatus::Failed => {
                    memo.insert(rec.key.clone(), Memo::Final(rec));
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
                retries,
                memo: RefCell::new(memo),
                seen: RefCell::new(HashMap::new()),
                calls: std::cell::Cell::new(0),
            }),
        }
    }

    fn key_for(&self, name: &str) -> String {
        let mut seen = self.inner.seen.borrow_mut();
        let n = seen.entry(name.to_string()).or_insert(0);
        let key = if *n == 0 {
            name.to_string()
        } else {
            format!("{name}:{n}")
        };
        *n += 1;
        key
    }

    /// Runs `code` once, durably. See the module docs.
    pub async fn run<T, F, Fut>(&self, name: &str, code: F) -> Result<T, FnError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let key = self.key_for(name);
        let position = self.inner.calls.get();
        self.inner.calls.set(position + 1);
        let memo = self.inner.memo.borrow().get(&key).cloned();
        let (from, attempt) = match memo {
            Some(Memo::Final(rec)) => return replay(name, &rec),
            Some(Memo::Errored { attempts }) => (StepStatus::Errored, attempts),
            None => (StepStatus::Pending, 0),
        };
        if self.inner.rt.is_shutting_down() {
            return Err(FnError::Interrupted(Interrupt::Shutdown));
        }
        let span = tracing::info_span!("step", run_id = %self.inner.lease.run_id, function_id = %self.inner.function_id, step = %key, attempt);
        let started_at_ms = now_ms();
        let result = AssertUnwindSafe(code())
            .catch_unwind()
            .instrument(span.clone())
            .await
            .unwrap_or_else(|panic| {
                Err(StepError::retryable(format!(
                    "step panicked: {}",
                    panic_message(&panic)
                )))
            });
        let finished_at_ms = now_ms();
        let (event, output, error) = match result.and_then(|v| {
            serde_json::to_value(v).map_err(|e| StepError::fatal(format!("step output is not JSON: {e}")))
        }) {
            Ok(json) => (StepEvent::Succeeded, Some(json), None),
            Err(e) => (
                StepEvent::classify(false, e.is_retryable(), attempt, self.inner.retries),
                None,
                Some(e),
            ),
        };
        let status = step_transition(from, event).map_err(|e| FnError::NonRetriable(e.to_string()))?;
        let retry_at_ms = match (&status, &error) {
            (StepStatus::Errored, Some(StepError::Retryable { retry_after, .. })) => {
                let delay = self.inner.rt.config.backoff.delay_for(attempt, *retry_after);
                Some(finished_at_ms + delay.as_millis() as i64)
            }
            _ => None,
        };
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
        };
        let written = self
            .inner
            .rt
            .store
            .record_step(&self.inner.lease, &record)
            .await
            .map_err(|e| match e {
                StoreError::LeaseLost => FnError::Interrupted(Interrupt::LeaseLost),
                other => FnError::Store(other.to_string()),
            })?;
        let _enter = span.enter();
        let rec = match written {
            StepWrite::AlreadyFinal(rec) => rec,
            StepWrite::Written => StepRecord {
                key: key.clone(),
                attempt,
                status,
                output: record.output,
                error: record.error,
            },
        };
        let memo = match rec.status {
            StepStatus::Completed | StepStatus::Failed => Memo::Final(rec.clone()),
            _ => Memo::Errored { attempts: attempt + 1 },
        };
        self.inner.memo.borrow_mut().insert(key.clone(), memo);
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

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
