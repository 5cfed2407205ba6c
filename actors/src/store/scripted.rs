//! A scripted in-memory [`RunStore`] for the runtime's unit tests (the run actor's, the pool's): it answers the
//! calls a test scripts and refuses every other one with an error the test would see.

use super::{
    ClaimRequest, ClaimedRun, FinishedRun, Lease, NewEvent, ParentResolution, RunChange, RunStore, StepAttempt,
    StepRecord, StepWrite, StoreError, WaitSpec,
};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Answers `load_steps` and `change_run` as scripted and records every change it is asked to persist; with
/// `claims_nothing`, answers every claim with no run and `next_wake` with nothing, counting both. Any other call
/// is an error the test would see.
#[derive(Default)]
pub(crate) struct Scripted {
    pub(crate) load_fails: bool,
    /// Answers to `change_run`, in order; once used up, `Ok`.
    pub(crate) change_answers: Mutex<VecDeque<StoreError>>,
    pub(crate) changes: Mutex<Vec<RunChange>>,
    pub(crate) claims_nothing: bool,
    /// The `now_ms` of every claim, in order.
    pub(crate) claims: Mutex<Vec<i64>>,
    /// The `after_ms` of every `next_wake` look-up, in order.
    pub(crate) next_wakes: Mutex<Vec<i64>>,
    /// Notified after each claim and each `next_wake` look-up.
    pub(crate) seen: tokio::sync::Notify,
}

fn unexpected<T>(what: &str) -> Result<T, StoreError> {
    Err(StoreError::Database(format!("{what}: not expected in this test")))
}

#[async_trait]
impl RunStore for Scripted {
    async fn claim(&self, req: ClaimRequest) -> Result<Vec<ClaimedRun>, StoreError> {
        if !self.claims_nothing {
            return unexpected("claim");
        }
        self.claims.lock().unwrap().push(req.now_ms);
        self.seen.notify_one();
        Ok(Vec::new())
    }
    async fn load_steps(&self, _: &str) -> Result<Vec<StepRecord>, StoreError> {
        if self.load_fails {
            return Err(StoreError::Database("connection refused".into()));
        }
        Ok(Vec::new())
    }
    async fn record_step(&self, _: &Lease, _: &StepAttempt) -> Result<StepWrite, StoreError> {
        unexpected("record_step")
    }
    async fn change_run(&self, _: &Lease, change: &RunChange) -> Result<(), StoreError> {
        self.changes.lock().unwrap().push(change.clone());
        match self.change_answers.lock().unwrap().pop_front() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
    async fn next_wake(&self, _: &str, after_ms: i64, _: i64) -> Result<Option<i64>, StoreError> {
        if !self.claims_nothing {
            return unexpected("next_wake");
        }
        self.next_wakes.lock().unwrap().push(after_ms);
        self.seen.notify_one();
        Ok(None)
    }
    async fn due_functions(&self, _: i64, _: i64) -> Result<Vec<String>, StoreError> {
        unexpected("due_functions")
    }
    async fn heartbeat(&self, _: &str, _: i64) -> Result<(), StoreError> {
        unexpected("heartbeat")
    }
    async fn release_node(&self, _: &str, _: i64) -> Result<u64, StoreError> {
        unexpected("release_node")
    }
    async fn release_in_doubt(&self, _: &str, _: &str, _: i64, _: &[String], _: i64) -> Result<u64, StoreError> {
        unexpected("release_in_doubt")
    }
    async fn begin_wait(
        &self,
        _: &Lease,
        _: &StepAttempt,
        _: &[WaitSpec],
        _: Option<&NewEvent>,
    ) -> Result<StepWrite, StoreError> {
        unexpected("begin_wait")
    }
    async fn recent_events(&self, _: &str, _: i64, _: i64) -> Result<Vec<serde_json::Value>, StoreError> {
        unexpected("recent_events")
    }
    async fn send_events(&self, _: &[NewEvent], _: i64) -> Result<Vec<String>, StoreError> {
        unexpected("send_events")
    }
    async fn resume_if_resolved(&self, _: &str, _: i64, _: i64) -> Result<bool, StoreError> {
        unexpected("resume_if_resolved")
    }
    async fn run_outcome(&self, _: &str) -> Result<Option<FinishedRun>, StoreError> {
        unexpected("run_outcome")
    }
    async fn cancel_run(&self, _: &str, _: i64) -> Result<bool, StoreError> {
        unexpected("cancel_run")
    }
    async fn fire_cron(&self, _: &str, _: &str, _: i64, _: &NewEvent) -> Result<bool, StoreError> {
        unexpected("fire_cron")
    }
    async fn pending_notifications(&self, _: usize) -> Result<Vec<FinishedRun>, StoreError> {
        unexpected("pending_notifications")
    }
    async fn complete_notification(
        &self,
        _: &str,
        _: &[NewEvent],
        _: Option<&ParentResolution>,
        _: i64,
    ) -> Result<Vec<String>, StoreError> {
        unexpected("complete_notification")
    }
}
