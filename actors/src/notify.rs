//! What a run's end tells others: Inngest's system events (`inngest/function.finished`, `.failed`,
//! `.cancelled`, with Inngest's data shapes) and, for an invoked child, the result its parent waits for.
//!
//! Delivery is an outbox: the run's final transition sets `notify_pending`; [`flush`] emits the events, resumes
//! the parent and clears the flag in one transaction. The run actor flushes right after the run ends; the
//! supervisor's poll flushes whatever a crash left pending. System events are stored only when some function
//! triggers on them (an `on_failure` handler, say), so runs nobody listens to cost nothing extra.

use crate::event::{Draft, NewEvent, Origin, Target, prepare};
use crate::function::Registry;
use crate::run::state::{RunStatus, StepStatus};
use crate::runtime::Runtime;
use crate::store::{FinishedRun, ParentResolution};
use crate::time::now_ms;
use serde_json::{Value, json};

pub const FINISHED: &str = "inngest/function.finished";
pub const FAILED: &str = "inngest/function.failed";
pub const CANCELLED: &str = "inngest/function.cancelled";

/// Whether a run of this registry needs a notification when it ends.
pub fn wanted(registry: &Registry, has_parent: bool) -> bool {
    has_parent || [FINISHED, FAILED, CANCELLED].iter().any(|n| registry.listens_to(n))
}

/// The system events for a finished run that some function listens to.
pub fn system_events(registry: &Registry, run: &FinishedRun, now: i64) -> Vec<NewEvent> {
    let mut data = json!({
        "function_id": run.function_id,
        "run_id": run.run_id,
        "event": run.event,
        "events": [run.event],
        "_inngest": { "status": run.status.as_str() },
    });
    match run.status {
        RunStatus::Completed => data["result"] = run.output.clone().unwrap_or(Value::Null),
        _ => data["error"] = json!(run.error),
    }
    let names: &[&str] = match run.status {
        RunStatus::Completed => &[FINISHED],
        RunStatus::Failed => &[FINISHED, FAILED],
        RunStatus::Cancelled => &[FINISHED, CANCELLED],
        _ => &[],
    };
    names
        .iter()
        .filter(|n| registry.listens_to(n))
        .filter_map(|name| {
            let draft = Draft {
                external_id: Some(format!("{name}:{}", run.run_id)),
                ts: Some(now),
                ..Draft::new(*name, data.clone())
            };
            prepare(draft, Origin::System, Target::Triggers(registry), now)
                .inspect_err(
                    |invalid| tracing::error!(run_id = run.run_id, name, %invalid, "a system event was refused"),
                )
                .ok()
        })
        .collect()
}

/// What the parent of an invoked run receives.
pub fn parent_resolution(run: &FinishedRun) -> Option<ParentResolution> {
    let (parent_run_id, step_key) = (run.parent_run_id.clone()?, run.parent_step_key.clone()?);
    let (status, output, error) = match run.status {
        RunStatus::Completed => (StepStatus::Completed, run.output.clone(), None),
        _ => (
            StepStatus::Failed,
            None,
            run.error.clone().or_else(|| {
                Some(crate::ErrorInfo::new(
                    "Error",
                    format!("the run was {}", run.status.as_str()),
                ))
            }),
        ),
    };
    Some(ParentResolution {
        parent_run_id,
        step_key,
        status,
        output,
        error,
    })
}

/// Delivers one finished run's notification.
pub async fn flush(rt: &Runtime, run: &FinishedRun) {
    let now = now_ms();
    let events = system_events(&rt.registry, run, now);
    let parent = parent_resolution(run);
    match rt
        .store
        .complete_notification(&run.run_id, &events, parent.as_ref(), now)
        .await
    {
        Ok(woken) => rt.wake(woken),
        Err(e) => {
            tracing::warn!(run_id = %run.run_id, error = %e, "could not deliver the run's notification; the poll retries")
        }
    }
}

/// Delivers every pending notification (after a crash, or a flush that failed).
pub async fn flush_pending(rt: &Runtime) {
    match rt.store.pending_notifications(100).await {
        Ok(runs) => {
            for run in &runs {
                flush(rt, run).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not look for pending notifications"),
    }
}
