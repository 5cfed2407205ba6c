//! Runs: the lifecycle ([`state`]), the mapping of a handler's result to a persisted change ([`outcome`]) and
//! the actor that executes one run ([`RunActor`]).

pub mod actor;
pub mod outcome;
pub mod state;

pub use actor::{RunActor, RunDone};

use crate::step::Step;

/// What a handler receives.
pub struct RunCtx {
    pub run_id: String,
    pub function_id: String,
    /// The trigger event: `{name, data, user, id, ts, v}` (for a batch, the first).
    pub event: serde_json::Value,
    /// Every event of the run: a batch's in arrival order, else just `event`.
    pub events: Vec<serde_json::Value>,
    /// Function-level attempt (0 on the first execution; grows when code outside steps fails and is retried).
    pub attempt: u32,
    pub step: Step,
}
