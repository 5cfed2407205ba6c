//! Events in: the one door every producer goes through — the HTTP intake, webhooks, `send_event`, `invoke`, a
//! run's system events (`inngest/function.*`) and cron ticks. [`prepare`] applies the one rule set
//! ([`rules::check`]), gives the event our id, builds its [`view`] and matches it: against the registry's triggers,
//! or to the one function the producer names ([`Target`]), each match with its admission keys. The result, a
//! [`NewEvent`], is what the store's intake plans and writes. Pure apart from the fresh id; no I/O.
//!
//! [`view`] is the one shape of an event as handlers and CEL see it: `{id, name, data, user, ts, v}`. Built here
//! only, so the intake, the webhooks, emitted events, system events, cron ticks, invokes and stored events all agree.

pub mod rules;
#[cfg(test)]
mod tests;

pub use rules::{Draft, Invalid, Origin, Valid};

use crate::flow::Flow;
use crate::function::{Match, Registry};
use serde_json::{Value, json};

/// `id` is the producer's id when it gave one, else ours; `ts` is milliseconds since the epoch.
pub fn view(id: &str, name: &str, data: &Value, user: &Value, ts: i64, v: Option<&str>) -> Value {
    json!({ "id": id, "name": name, "data": data, "user": user, "ts": ts, "v": v })
}

/// A validated event with our id and the functions it starts: what every producer hands the intake.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Our id (UUIDv7, fresh per attempt).
    pub id: String,
    /// The producer's dedupe id: a repeat within 24 h is stored as a duplicate and starts nothing.
    pub external_id: Option<String>,
    pub name: String,
    pub data: Value,
    pub user: Value,
    pub ts: i64,
    pub v: Option<String>,
    pub matches: Vec<Match>,
}

impl NewEvent {
    /// The event as CEL and the handler see it (its `id` is the producer's when it gave one).
    pub fn view(&self) -> Value {
        let shown_id = self.external_id.as_deref().unwrap_or(&self.id);
        view(shown_id, &self.name, &self.data, &self.user, self.ts, self.v.as_deref())
    }
}

/// Which functions an event starts.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Every function whose trigger matches, with its idempotency key (the intake, webhooks, `send_event`, system
    /// events).
    Triggers(&'a Registry),
    /// One function named by the producer, whatever its triggers: a cron tick's function, an invoked child. `flow`
    /// gives the admission keys (none without it); there is no idempotency key.
    Function {
        function_id: &'a str,
        flow: Option<&'a Flow>,
        /// A fixed run id (an invoked child's, so a retried invoke starts no second child).
        run_id: Option<&'a str>,
        /// The run and step waiting for this run's result (`invoke`).
        parent: Option<(&'a str, &'a str)>,
    },
}

/// Validates `draft` ([`rules::check`]), gives it our id, and matches it to the functions it starts. `now_ms` is
/// the default `ts` and the clock of the admission keys.
pub fn prepare(draft: Draft, origin: Origin, target: Target<'_>, now_ms: i64) -> Result<NewEvent, Invalid> {
    let valid = rules::check(draft, origin, now_ms)?;
    Ok(prepare_valid(valid, target, now_ms))
}

/// [`prepare`] for an event that passed the rules already (the HTTP intake checks every event of a request
/// before it matches any).
pub fn prepare_valid(valid: Valid, target: Target<'_>, now_ms: i64) -> NewEvent {
    let mut event = NewEvent {
        id: uuid::Uuid::now_v7().to_string(),
        external_id: valid.external_id,
        name: valid.name,
        data: valid.data,
        user: valid.user,
        ts: valid.ts,
        v: valid.v,
        matches: Vec::new(),
    };
    let seen = event.view();
    event.matches = match target {
        Target::Triggers(registry) => registry.matching(&event.name, &seen, now_ms),
        Target::Function {
            function_id,
            flow,
            run_id,
            parent,
        } => vec![Match {
            function_id: function_id.to_string(),
            idempotency_key: None,
            run_id: run_id.map(str::to_string),
            parent: parent.map(|(r, s)| (r.to_string(), s.to_string())),
            admission: flow.map(|f| f.admit(&seen, now_ms)).unwrap_or_default(),
        }],
    };
    event
}
