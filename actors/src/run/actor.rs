//! The run actor: executes one claimed run — replays memoized steps, runs the handler, persists the outcome —
//! then reports to its pool and stops. Everything it writes goes through the lease-guarded store.

use super::RunCtx;
use super::outcome::{Decision, decide};
use crate::error::FnError;
use crate::function::Function;
use crate::run::state::RunStatus;
use crate::runtime::Runtime;
use crate::step::Step;
use crate::store::{ClaimedRun, StoreError};
use crate::time::now_ms;
use actix::prelude::*;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Sent to the pool when a run actor is done with its run.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct RunDone {
    pub run_id: String,
    /// When the run asked to be resumed (retry backoff), so the pool can wake itself then.
    pub resume_at_ms: Option<i64>,
}

pub struct RunActor {
    rt: Arc<Runtime>,
    function: Arc<Function>,
    claimed: Option<ClaimedRun>,
    pool: Recipient<RunDone>,
}

impl RunActor {
    pub fn new(rt: Arc<Runtime>, function: Arc<Function>, claimed: ClaimedRun, pool: Recipient<RunDone>) -> Self {
        RunActor {
            rt,
            function,
            claimed: Some(claimed),
            pool,
        }
    }
}

impl Actor for RunActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4);
        let Some(claimed) = self.claimed.take() else {
            ctx.stop();
            return;
        };
        let span = tracing::info_span!("run", run_id = %claimed.lease.run_id, function_id = %claimed.function_id);
        let work = execute(self.rt.clone(), self.function.clone(), claimed).instrument(span);
        ctx.spawn(
            work.into_actor(self)
                .then(|done, act, _| {
                    let pool = act.pool.clone();
                    async move {
                        // Bounded: waits for room in the pool's mailbox rather than queueing without limit.
                        if pool.send(done).await.is_err() {
                            tracing::debug!("pool stopped before the run reported back");
                        }
                    }
                    .into_actor(act)
                })
                .map(|_, _, ctx| ctx.stop()),
        );
    }
}

async fn execute(rt: Arc<Runtime>, function: Arc<Function>, claimed: ClaimedRun) -> RunDone {
    let began_ms = now_ms();
    let metrics = rt.metrics.function(&claimed.function_id);
    if claimed.first_claim
        && let Some(m) = metrics
    {
        crate::metrics::inc(&m.runs_started);
    }
    let lease = claimed.lease.clone();
    // The trigger event for the run's trace span, kept only when traces are exported (the handler takes it).
    let traced_event = rt.trace_sink().map(|_| claimed.event.clone());
    let def = &function.def;
    let records = match claimed.steps {
        _ if claimed.first_claim => Ok(Vec::new()),
        Some(steps) => Ok(steps),
        None => rt.store.load_steps(&lease.run_id).await,
    };
    let timeouts = &function.flow.config.timeouts;
    let deadline_ms = timeouts.finish.map(|f| claimed.started_at_ms + f.as_millis() as i64);
    let late_start = claimed.first_claim
        && timeouts
            .start
            .is_some_and(|s| began_ms - claimed.created_at_ms > s.as_millis() as i64);
    let mut deferred_from: Option<Step> = None;
    let result = match records {
        _ if claimed.unreadable.is_some() => Err(FnError::NonRetriable(format!(
            "the run's stored data cannot be read: {}",
            claimed.unreadable.as_deref().unwrap_or_default()
        ))),
        _ if late_start => Err(FnError::Cancelled("the run did not start within timeouts.start".into())),
        _ if deadline_ms.is_some_and(|d| began_ms >= d) => Err(FnError::Cancelled(
            "the run did not finish within timeouts.finish".into(),
        )),
        Err(StoreError::Database(m)) => Err(FnError::StoreUnavailable(m)),
        Err(e) => Err(FnError::Store(e.to_string())),
        Ok(records) => {
            let step = Step::new(
                rt.clone(),
                lease.clone(),
                def.id.clone(),
                claimed.event.clone(),
                def.retries,
                records,
            )
            .with_deadline(deadline_ms);
            deferred_from = Some(step.clone());
            let events = if claimed.batch.is_empty() {
                vec![claimed.event.clone()]
            } else {
                claimed.batch
            };
            let ctx = RunCtx {
                run_id: lease.run_id.clone(),
                function_id: def.id.clone(),
                events,
                event: claimed.event,
                attempt: claimed.attempt,
                step,
            };
            AssertUnwindSafe((def.handler)(ctx))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    Err(FnError::Retryable {
                        message: "function panicked".into(),
                        retry_after: None,
                    })
                })
        }
    };
    let notify = crate::notify::wanted(&rt.registry, claimed.parent_run_id.is_some());
    let decision = decide(
        result,
        claimed.attempt,
        def.retries,
        rt.config.backoff,
        now_ms(),
        notify,
    );
    let Decision::Persist(mut change) = decision else {
        tracing::info!("lease lost: another worker owns this run now");
        return RunDone {
            run_id: lease.run_id,
            resume_at_ms: None,
        };
    };
    if change.to == RunStatus::Waiting {
        change.resolved_since_ms = Some(began_ms);
    }
    change.steps = deferred_from.map(|s| s.take_deferred()).unwrap_or_default();
    // A suspended run is woken by its finish deadline at the latest (then it is cancelled).
    if let (Some(d), Some(at)) = (deadline_ms, change.run_at_ms)
        && change.to.is_suspended()
    {
        change.run_at_ms = Some(at.min(d));
    }
    // Persist, retrying while the database is unavailable; a lost lease means someone else took over.
    let mut delay = Duration::from_millis(200);
    loop {
        match rt.store.change_run(&lease, &change).await {
            Ok(()) => break,
            Err(StoreError::LeaseLost) => {
                tracing::info!("lease lost while finishing the run");
                return RunDone {
                    run_id: lease.run_id,
                    resume_at_ms: None,
                };
            }
            Err(e) if rt.is_shutting_down() => {
                tracing::error!(error = %e, "could not persist the run's outcome during shutdown; it resumes on restart");
                return RunDone {
                    run_id: lease.run_id,
                    resume_at_ms: None,
                };
            }
            Err(e) => {
                tracing::error!(error = %e, retry_in_ms = delay.as_millis() as u64, "could not persist the run's outcome");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
    if let (Some(sink), Some(event)) = (rt.trace_sink(), &traced_event)
        && change.to.is_final()
    {
        sink.run_finished(&crate::trace::RunReport {
            run_id: &lease.run_id,
            function_id: &claimed.function_id,
            event,
            parent_run_id: claimed.parent_run_id.as_deref(),
            created_at_ms: claimed.created_at_ms,
            finished_at_ms: change.at_ms,
            status: change.to,
            error: change.error.as_ref().map(|e| e.message.as_str()),
        });
    }
    if let Some(m) = metrics {
        match change.to {
            RunStatus::Completed => crate::metrics::inc(&m.runs_completed),
            RunStatus::Failed => crate::metrics::inc(&m.runs_failed),
            RunStatus::Cancelled => crate::metrics::inc(&m.runs_cancelled),
            _ => {}
        }
    }
    match &change.error {
        Some(err) if change.to.is_final() => {
            tracing::warn!(status = change.to.as_str(), error = %err.message, "run finished")
        }
        _ => tracing::info!(
            status = change.to.as_str(),
            "run {}",
            if change.to.is_final() { "finished" } else { "suspended" }
        ),
    }
    let mut resume_at_ms = if change.to.is_final() { None } else { change.run_at_ms };
    if change.to == RunStatus::Sleeping {
        // Claimed `wake_ahead` early; the sleep then ends in the run actor on time.
        resume_at_ms = resume_at_ms.map(|at| at - rt.config.wake_ahead.as_millis() as i64);
    }
    if change.to == RunStatus::Waiting {
        // An event may have resolved the wait while the run was still running: then it is due now.
        match rt.store.resume_if_resolved(&lease.run_id, began_ms, now_ms()).await {
            Ok(true) => resume_at_ms = Some(now_ms()),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not check the wait; its timeout resumes the run"),
        }
    }
    if change.notify {
        match rt.store.run_outcome(&lease.run_id).await {
            Ok(Some(run)) => crate::notify::flush(&rt, &run).await,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not load the finished run; the poll delivers its notification"),
        }
    }
    rt.run_settled.notify_waiters();
    RunDone {
        run_id: lease.run_id,
        resume_at_ms,
    }
}

#[cfg(test)]
mod tests;
