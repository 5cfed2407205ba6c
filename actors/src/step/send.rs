//! `send_event`: durable fan-out from inside a run.
//!
//! The events get dedupe ids the first time the step is reached — the producer's `id` if given, else one derived
//! from the run, the step and the event's position — so an attempt that emitted and then crashed before its result
//! was stored emits duplicates that the intake records and ignores (24 h window), and a replayed step emits nothing.

use super::Step;
use crate::error::{FnError, StepError};
use crate::event::{Draft, Origin, Target, prepare};
use crate::time::now_ms;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most events in one `send_event` (Inngest's limit).
pub const MAX_SEND: usize = 5_000;

/// An event to send: `{name, data, user?, id?, ts?}` as Inngest's `step.sendEvent` takes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SendEvent {
    pub name: String,
    #[serde(default)]
    pub data: Value,
    #[serde(default)]
    pub user: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

impl SendEvent {
    pub fn new(name: &str, data: Value) -> Self {
        SendEvent {
            name: name.to_string(),
            data,
            user: Value::Null,
            id: None,
            ts: None,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Sent {
    ids: Vec<String>,
}

impl Step {
    /// Sends events (1 to 5,000) and returns their ids. See the module docs.
    pub async fn send_event(&self, name: &str, events: Vec<SendEvent>) -> Result<Vec<String>, FnError> {
        let key = self.peek_key(name);
        let run_id = self.inner.lease.run_id.clone();
        let ids: Vec<String> = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                e.id.clone().unwrap_or_else(|| {
                    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("{run_id}/{key}/{i}").as_bytes()).to_string()
                })
            })
            .collect();
        let rt = self.inner.rt.clone();
        let declared = declared_emits(&rt, &self.inner.function_id);
        let sent: Sent = self
            .run_kind(name, "send_event", super::StepOptions::default(), move || async move {
                if events.is_empty() || events.len() > MAX_SEND {
                    return Err(StepError::fatal(format!(
                        "send_event takes 1 to {MAX_SEND} events, got {}",
                        events.len()
                    )));
                }
                let now = now_ms();
                let mut out = Vec::with_capacity(events.len());
                for (e, id) in events.into_iter().zip(&ids) {
                    if let Some(declared) = &declared
                        && !declared.iter().any(|d| d == &e.name)
                    {
                        return Err(StepError::fatal(format!(
                            "event {:?} is not among the events this function declares (FunctionDef::emits)",
                            e.name
                        )));
                    }
                    let name = e.name.clone();
                    let draft = Draft {
                        name: e.name,
                        data: e.data,
                        user: e.user,
                        external_id: Some(id.clone()),
                        ts: e.ts,
                        v: None,
                    };
                    let event = prepare(draft, Origin::Producer, Target::Triggers(&rt.registry), now)
                        .map_err(|invalid| StepError::fatal(format!("event {name:?}: {invalid}")))?;
                    out.push(event);
                }
                let woken = rt
                    .store
                    .send_events(&out, now)
                    .await
                    .map_err(|e| StepError::retryable(e.to_string()))?;
                rt.wake(woken);
                Ok(Sent { ids })
            })
            .await?;
        Ok(sent.ids)
    }

    /// The key the next step named `name` will get (without taking it).
    fn peek_key(&self, name: &str) -> String {
        match self.inner.seen.borrow().get(name).copied().unwrap_or(0) {
            0 => name.to_string(),
            n => format!("{name}:{n}"),
        }
    }
}

/// The events a function may emit: its catalogue's `emits` when it has a catalogue entry (every platform function
/// does), else any (engine test functions). An undeclared emit fails the step for good, so the catalogue and the
/// consumer check (`every emitted event has a consumer`) cannot drift from the code.
fn declared_emits(rt: &crate::Runtime, function_id: &str) -> Option<Vec<String>> {
    let function = rt.registry.get(function_id)?;
    let catalogue = &function.def.catalogue;
    (!catalogue.summary.is_empty()).then(|| catalogue.emits.clone())
}
