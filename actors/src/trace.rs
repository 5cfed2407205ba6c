//! What the engine reports for tracing, after it is persisted: each step attempt and each run's end. The engine
//! knows no exporter: the application sets a [`TraceSink`] on the [`crate::runtime::Runtime`] (the daemon's
//! OpenTelemetry exporter, `src/telemetry/`), and nothing is reported without one.
//!
//! A sink is called on the thread that runs the step or the run: it must not block (hand the report to a bounded
//! queue, drop it when the queue is full).

use crate::run::state::RunStatus;

/// One attempt of a `step.run`, as persisted.
#[derive(Debug, Clone, Copy)]
pub struct StepAttemptReport<'a> {
    pub run_id: &'a str,
    pub function_id: &'a str,
    /// The memo key (the step's name, with `:n` for a repeated name).
    pub step_key: &'a str,
    pub step_name: &'a str,
    /// 0 for the first attempt.
    pub attempt: u32,
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
    /// The step's persisted status after this attempt: `completed`, `errored` (a retry follows) or `failed`.
    pub status: &'static str,
    /// The error message when the attempt failed.
    pub error: Option<&'a str>,
}

/// A run that reached a final status.
#[derive(Debug, Clone, Copy)]
pub struct RunReport<'a> {
    pub run_id: &'a str,
    pub function_id: &'a str,
    /// The trigger event as the handler saw it (`{name, id, …}`).
    pub event: &'a serde_json::Value,
    /// The run that invoked this one, if any.
    pub parent_run_id: Option<&'a str>,
    pub created_at_ms: i64,
    pub finished_at_ms: i64,
    pub status: RunStatus,
    pub error: Option<&'a str>,
}

/// Receives the engine's reports. Implementations must return at once (no I/O on the caller's thread).
pub trait TraceSink: Send + Sync + 'static {
    fn step_attempt(&self, report: &StepAttemptReport<'_>);
    fn run_finished(&self, report: &RunReport<'_>);
}
