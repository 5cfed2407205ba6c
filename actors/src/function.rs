//! Function definitions and the validated registry.
//!
//! A function is Rust code registered with an id, a display name, its triggers (event names with an optional
//! CEL `if`), a retry count (default 3 after the first attempt, 0–20) and an optional CEL idempotency key (one
//! run per key value per 24 h). [`Registry::new`] validates everything once; an invalid registry refuses start.

use crate::cron::{CronError, CronSchedule};
use crate::error::FnError;
use crate::expr::{Expr, ExprError};
use crate::flow::{Admission, Flow, FlowConfig, FlowError};
use crate::run::RunCtx;
use futures_util::future::LocalBoxFuture;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub const DEFAULT_RETRIES: u32 = 3;
pub const MAX_RETRIES: u32 = 20;
pub const MAX_TRIGGERS: usize = 10;
/// How long an idempotency key (or an event's producer id) blocks a second run.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// The handler: called with the run's context, returns the run's output as JSON.
pub type Handler = Arc<dyn Fn(RunCtx) -> LocalBoxFuture<'static, Result<serde_json::Value, FnError>> + Send + Sync>;

#[derive(Debug, Clone)]
pub enum Trigger {
    Event {
        event: String,
        condition: Option<String>,
    },
    /// A cron schedule (`TZ=Area/City` prefix allowed); each tick starts one run with the event
    /// `inngest/scheduled.timer`, once across every daemon sharing the database.
    Cron {
        schedule: String,
    },
}

impl Trigger {
    pub fn event(name: &str) -> Self {
        Trigger::Event {
            event: name.to_string(),
            condition: None,
        }
    }
    pub fn event_if(name: &str, condition: &str) -> Self {
        Trigger::Event {
            event: name.to_string(),
            condition: Some(condition.to_string()),
        }
    }
    pub fn cron(schedule: &str) -> Self {
        Trigger::Cron {
            schedule: schedule.to_string(),
        }
    }
}

/// The event a cron tick starts its run with.
pub const CRON_EVENT: &str = "inngest/scheduled.timer";

/// A function as the application declares it. Build with [`FunctionDef::new`] and the chained setters.
#[derive(Clone)]
pub struct FunctionDef {
    pub id: String,
    pub name: String,
    pub triggers: Vec<Trigger>,
    pub retries: u32,
    pub idempotency: Option<String>,
    pub handler: Handler,
    /// Runs when a run of this function fails for good (Inngest's `onFailure`): registered as the function
    /// `<id>-failure`, triggered by `inngest/function.failed` for this function, with one retry.
    pub on_failure: Option<Handler>,
    /// Concurrency, throttle, rate limit, debounce, cancel_on, timeouts, priority (setters in [`crate::flow`]).
    pub flow: FlowConfig,
    /// Catalogue entry: what the function does, the external services it calls and the events it emits
    /// (see [`Catalogue`]). Data only: the runtime never reads it.
    pub catalogue: Catalogue,
}

/// What a function declares about itself for the operator's function catalogue (README, `ingot functions`) and for
/// the check that every emitted event has a consumer.
#[derive(Clone, Debug, Default)]
pub struct Catalogue {
    /// One sentence: what a run does.
    pub summary: String,
    /// The external services it calls, by their service name (`stripe`, `discord`, `email`, ...).
    pub services: Vec<String>,
    /// The event names it emits through `send_event` (canonical names, not aliases).
    pub emits: Vec<String>,
}

impl std::fmt::Debug for FunctionDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionDef")
            .field("id", &self.id)
            .field("triggers", &self.triggers)
            .field("retries", &self.retries)
            .field("idempotency", &self.idempotency)
            .finish()
    }
}

impl FunctionDef {
    pub fn new<F, Fut>(id: &str, name: &str, handler: F) -> Self
    where
        F: Fn(RunCtx) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<serde_json::Value, FnError>> + 'static,
    {
        FunctionDef {
            id: id.to_string(),
            name: name.to_string(),
            triggers: Vec::new(),
            retries: DEFAULT_RETRIES,
            idempotency: None,
            handler: Arc::new(move |ctx| Box::pin(handler(ctx))),
            on_failure: None,
            flow: FlowConfig::default(),
            catalogue: Catalogue::default(),
        }
    }
    /// See [`FunctionDef::on_failure`] (the field). The handler's `event` is the `inngest/function.failed` event:
    /// `data.error`, `data.event` (the failed run's trigger), `data.run_id`, `data.function_id`.
    pub fn on_failure<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(RunCtx) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<serde_json::Value, FnError>> + 'static,
    {
        self.on_failure = Some(Arc::new(move |ctx| Box::pin(handler(ctx))));
        self
    }
    pub fn trigger(mut self, t: Trigger) -> Self {
        self.triggers.push(t);
        self
    }
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }
    pub fn idempotency(mut self, expr: &str) -> Self {
        self.idempotency = Some(expr.to_string());
        self
    }
    /// The catalogue's one-sentence summary of what a run does.
    pub fn summary(mut self, text: &str) -> Self {
        self.catalogue.summary = text.to_string();
        self
    }
    /// The external services a run calls (`stripe`, `discord`, `google-calendar`, `email`, ...).
    pub fn services(mut self, names: &[&str]) -> Self {
        self.catalogue.services = names.iter().map(|s| s.to_string()).collect();
        self
    }
    /// The events a run emits through `send_event` (canonical names). Once a function has a summary, `send_event`
    /// refuses (fatally) any event not listed here.
    pub fn emits(mut self, names: &[&str]) -> Self {
        self.catalogue.emits = names.iter().map(|s| s.to_string()).collect();
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("function id {0:?} is registered twice")]
    DuplicateId(String),
    #[error("function {0:?}: the id must be non-empty lowercase letters, digits and dashes")]
    InvalidId(String),
    #[error("function {id:?}: retries must be between 0 and {MAX_RETRIES}, got {retries}")]
    Retries { id: String, retries: u32 },
    #[error("function {id:?}: between 1 and {MAX_TRIGGERS} triggers are allowed, got {count}")]
    Triggers { id: String, count: usize },
    #[error("function {id:?}: trigger event name must be non-empty")]
    EmptyEvent { id: String },
    #[error("function {id:?}: {source}")]
    Expr { id: String, source: ExprError },
    #[error("function {id:?}: {source}")]
    Flow { id: String, source: FlowError },
    #[error("function {id:?}: {source}")]
    Cron { id: String, source: CronError },
}

/// A validated function with its compiled expressions.
#[derive(Debug)]
pub struct Function {
    pub def: FunctionDef,
    conditions: Vec<(String, Option<Expr>)>,
    idempotency: Option<Expr>,
    pub flow: Flow,
    pub crons: Vec<CronSchedule>,
}

impl Function {
    pub fn id(&self) -> &str {
        &self.def.id
    }
}

/// A function selected for an event, with its evaluated idempotency key.
#[derive(Debug, Clone)]
pub struct Match {
    pub function_id: String,
    pub idempotency_key: Option<String>,
    /// A fixed run id (an invoked child's, so a retried invoke starts no second child).
    pub run_id: Option<String>,
    /// The run and step waiting for this run's result (`step.invoke`).
    pub parent: Option<(String, String)>,
    /// The function's flow-control keys for this event.
    pub admission: Admission,
}

/// The set of functions this daemon runs. Cheap to share (`Arc`).
#[derive(Debug, Default)]
pub struct Registry {
    functions: Vec<Arc<Function>>,
    by_event: HashMap<String, Vec<usize>>,
}

impl Registry {
    pub fn new(defs: Vec<FunctionDef>) -> Result<Registry, RegistryError> {
        let defs = defs.into_iter().flat_map(with_failure_handler);
        let mut seen = HashSet::new();
        let mut reg = Registry::default();
        for def in defs {
            let id = def.id.clone();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(RegistryError::InvalidId(id));
            }
            if !seen.insert(id.clone()) {
                return Err(RegistryError::DuplicateId(id));
            }
            if def.retries > MAX_RETRIES {
                return Err(RegistryError::Retries {
                    id,
                    retries: def.retries,
                });
            }
            if def.triggers.is_empty() || def.triggers.len() > MAX_TRIGGERS {
                return Err(RegistryError::Triggers {
                    id,
                    count: def.triggers.len(),
                });
            }
            let compile =
                |src: &str| Expr::compile(src).map_err(|source| RegistryError::Expr { id: id.clone(), source });
            let mut conditions = Vec::new();
            let mut crons = Vec::new();
            for t in &def.triggers {
                match t {
                    Trigger::Event { event, condition } => {
                        if event.trim().is_empty() {
                            return Err(RegistryError::EmptyEvent { id });
                        }
                        conditions.push((event.clone(), condition.as_deref().map(compile).transpose()?));
                    }
                    Trigger::Cron { schedule } => {
                        let cron = CronSchedule::parse(schedule)
                            .map_err(|source| RegistryError::Cron { id: id.clone(), source })?;
                        crons.push(cron);
                    }
                }
            }
            if def.flow.batch.is_some() && def.idempotency.is_some() {
                return Err(RegistryError::Flow {
                    id,
                    source: FlowError::Invalid(
                        "batch_events cannot be combined with idempotency (as in Inngest)".into(),
                    ),
                });
            }
            let flow =
                Flow::compile(def.flow.clone()).map_err(|source| RegistryError::Flow { id: id.clone(), source })?;
            let idempotency = def.idempotency.as_deref().map(compile).transpose()?;
            let index = reg.functions.len();
            for (event, _) in &conditions {
                let entry = reg.by_event.entry(event.clone()).or_default();
                if !entry.contains(&index) {
                    entry.push(index);
                }
            }
            reg.functions.push(Arc::new(Function {
                def,
                conditions,
                idempotency,
                flow,
                crons,
            }));
        }
        Ok(reg)
    }

    pub fn functions(&self) -> impl Iterator<Item = &Arc<Function>> {
        self.functions.iter()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Function>> {
        self.functions.iter().find(|f| f.id() == id)
    }

    /// Whether any function triggers on events named `name`.
    pub fn listens_to(&self, name: &str) -> bool {
        self.by_event.contains_key(name)
    }

    /// The functions an event starts, in registration order. `event` is the full event object
    /// (`{name, data, user, id, ts, v}`) that CEL sees as `event`; `now_ms` is the clock of the admission keys.
    /// Producers go through [`crate::event::prepare`], which calls this.
    pub fn matching(&self, name: &str, event: &serde_json::Value, now_ms: i64) -> Vec<Match> {
        let Some(indexes) = self.by_event.get(name) else {
            return Vec::new();
        };
        indexes
            .iter()
            .map(|&i| &self.functions[i])
            .filter(|f| {
                f.conditions
                    .iter()
                    .any(|(ev, cond)| ev == name && cond.as_ref().is_none_or(|c| c.matches(event)))
            })
            .map(|f| Match {
                function_id: f.id().to_string(),
                idempotency_key: f.idempotency.as_ref().and_then(|k| k.key(event)),
                run_id: None,
                parent: None,
                admission: f.flow.admit(event, now_ms),
            })
            .collect()
    }
}

/// A definition, followed by its `on_failure` handler as a function of its own.
fn with_failure_handler(mut def: FunctionDef) -> Vec<FunctionDef> {
    let Some(handler) = def.on_failure.take() else {
        return vec![def];
    };
    let failure = FunctionDef {
        id: format!("{}-failure", def.id),
        name: format!("{} (failure)", def.name),
        triggers: vec![Trigger::event_if(
            crate::notify::FAILED,
            &format!("event.data.function_id == '{}'", def.id),
        )],
        retries: 1,
        idempotency: None,
        handler,
        on_failure: None,
        flow: FlowConfig::default(),
        catalogue: Catalogue {
            summary: format!("Runs when a run of `{}` fails for good.", def.id),
            ..def.catalogue.clone()
        },
    };
    vec![def, failure]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn noop(id: &str) -> FunctionDef {
        FunctionDef::new(id, id, |_ctx| async { Ok(serde_json::Value::Null) })
    }

    #[test]
    fn matching_respects_conditions_and_evaluates_keys() {
        let reg = Registry::new(vec![
            noop("a").trigger(Trigger::event("x/y")).idempotency("event.user.email"),
            noop("b").trigger(Trigger::event_if("x/y", "event.data.kind == 'cohort'")),
            noop("c").trigger(Trigger::event("other")),
        ])
        .unwrap();
        let e = json!({"name": "x/y", "data": {"kind": "solo"}, "user": {"email": "a@b.c"}});
        let m = reg.matching("x/y", &e, 0);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].function_id, "a");
        assert_eq!(m[0].idempotency_key.as_deref(), Some("a@b.c"));
        let e = json!({"name": "x/y", "data": {"kind": "cohort"}, "user": {}});
        let ids: Vec<_> = reg.matching("x/y", &e, 0).into_iter().map(|m| m.function_id).collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(reg.matching("nope", &e, 0).is_empty());
    }

    #[test]
    fn invalid_registries_are_refused() {
        let dup = Registry::new(vec![
            noop("a").trigger(Trigger::event("e")),
            noop("a").trigger(Trigger::event("e")),
        ]);
        assert!(matches!(dup, Err(RegistryError::DuplicateId(_))));
        let cel = Registry::new(vec![noop("a").trigger(Trigger::event_if("e", "event.data ==="))]);
        assert!(matches!(cel, Err(RegistryError::Expr { .. })));
        let key = Registry::new(vec![noop("a").trigger(Trigger::event("e")).idempotency("(")]);
        assert!(matches!(key, Err(RegistryError::Expr { .. })));
        let retries = Registry::new(vec![noop("a").trigger(Trigger::event("e")).retries(21)]);
        assert!(matches!(retries, Err(RegistryError::Retries { .. })));
        assert!(matches!(
            Registry::new(vec![noop("a")]),
            Err(RegistryError::Triggers { .. })
        ));
        let batch_and_key = Registry::new(vec![
            noop("a")
                .trigger(Trigger::event("e"))
                .idempotency("event.data.id")
                .batch_events(10, std::time::Duration::from_secs(5), None),
        ]);
        assert!(matches!(batch_and_key, Err(RegistryError::Flow { .. })));
        let cron = Registry::new(vec![noop("a").trigger(Trigger::cron("61 * * * *"))]);
        assert!(matches!(cron, Err(RegistryError::Cron { .. })));
        let bad_id = Registry::new(vec![noop("A b").trigger(Trigger::event("e"))]);
        assert!(matches!(bad_id, Err(RegistryError::InvalidId(_))));
    }
}
