//! # ingot-actors — Ingot's durable actor runtime
//!
//! This crate runs functions durably. It knows about events, functions, runs and steps, and nothing about
//! courses, Stripe or Discord: the application crate registers functions and supplies storage.
//!
//! ## Layout
//! - [`function`]: a function's definition (id, triggers, retries, idempotency) and the validated [`Registry`].
//! - [`expr`]: CEL expressions (trigger `if` conditions, idempotency keys).
//! - [`run`]: the run and step lifecycles as closed enums with pure transition functions ([`run::state`]),
//!   the mapping of a finished handler to a persisted outcome ([`run::outcome`]), and the [`run::RunActor`].
//! - [`step`]: the step tools a handler uses (`step.run`), memoized through the store.
//! - [`store`]: the storage seam ([`RunStore`]); the application implements it with Diesel.
//! - [`pool`]: one actor per function that claims due runs from the store and starts run actors.
//! - [`supervisor`]: owns the pools, routes wake-ups to them, polls for due work, heartbeats the node lease.
//! - [`error`]: step and function errors with an explicit retryable / fatal classification.
//! - [`backoff`]: Inngest's retry schedule.
//! - [`service`]: shared, rate-limited service actors with bounded mailboxes for external APIs.
//!
//! ## Invariants
//! - Work waits in the database, never in a mailbox: a wake-up message only says "look at the store".
//! - A step's result is persisted before the handler continues; a persisted completed step never runs again.
//! - Every run-state write is guarded by the run's lease token (fencing), see [`store::RunStore`].

pub mod backoff;
pub mod error;
pub mod expr;
pub mod function;
pub mod pool;
pub mod run;
pub mod runtime;
pub mod service;
pub mod step;
pub mod store;
pub mod supervisor;
pub mod time;

pub use error::{ErrorInfo, FnError, ResultExt, StepError};
pub use function::{FunctionDef, Registry, RegistryError, Trigger};
pub use run::RunCtx;
pub use runtime::{Runtime, RuntimeConfig};
pub use step::Step;
pub use store::RunStore;
pub use supervisor::{PoolHealth, Supervisor, SupervisorHandle};
