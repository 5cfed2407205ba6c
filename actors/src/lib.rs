//! # ingot-actors — Ingot's durable actor runtime
//!
//! This crate runs functions durably. It knows about events, functions, runs and steps, and nothing about
//! courses, Stripe or Discord: the application crate registers functions and supplies storage.
//!
//! ## Layout
//! - [`function`]: a function's definition (id, triggers, retries, idempotency) and the validated [`Registry`].
//! - [`expr`]: CEL expressions with Inngest's semantics (conditions, keys, priorities over `event` / `async` / `events`).
//! - [`cron`]: cron schedules (`TZ=` prefix, DST-correct next fire time).
//! - [`run`]: the run and step lifecycles as closed enums with pure transition functions ([`run::state`]),
//!   the mapping of a finished handler to a persisted outcome ([`run::outcome`]), and the [`run::RunActor`].
//! - [`step`]: the step tools a handler uses (`run`, `sleep`, `wait_for_event`, `invoke`, `send_event`), memoized
//!   through the store.
//! - [`notify`]: what a run's end tells others: system events and an invoking parent (an outbox).
//! - [`store`]: the storage seam ([`RunStore`]); the application implements it with Diesel.
//! - [`pool`]: one actor per function that claims due runs from the store and starts run actors.
//! - [`supervisor`]: owns the pools, routes wake-ups to them, polls for due work.
//! - [`heartbeat`]: the node's heartbeat (its leases) and the systemd watchdog, on an OS thread of their own.
//! - [`error`]: step and function errors with an explicit retryable / fatal classification.
//! - [`backoff`]: Inngest's retry schedule.
//! - [`metrics`]: the engine's counters and histograms for `/metrics` (atomics, read at scrape time).
//! - [`service`]: shared, rate-limited service actors with bounded mailboxes for external APIs.
//! - [`trace`]: what the engine reports for tracing (step attempts, run ends) to a sink the application sets.
//!
//! ## Invariants
//! - Work waits in the database, never in a mailbox: a wake-up message only says "look at the store".
//! - A step's result is persisted before the handler continues; a persisted completed step never runs again.
//! - Every run-state write is guarded by the run's lease token (fencing), see [`store::RunStore`].
// The crate's documentation is for its maintainers (`cargo doc --document-private-items` in CI), so a module's
// doc comment may link to the private items it is made of.
#![allow(rustdoc::private_intra_doc_links)]

pub mod backoff;
pub mod cron;
pub mod error;
pub mod event;
pub mod expr;
pub mod flow;
pub mod function;
pub mod heartbeat;
pub mod metrics;
pub mod notify;
pub mod pool;
pub mod run;
pub mod runtime;
pub mod scheduler;
pub mod service;
pub mod step;
pub mod store;
pub mod supervisor;
pub mod time;
pub mod trace;

pub use error::{ErrorInfo, FnError, ResultExt, StepError};
pub use function::{Catalogue, FunctionDef, Registry, RegistryError, Trigger};
pub use run::RunCtx;
pub use runtime::{Runtime, RuntimeConfig};
pub use step::{AnyOf, Arrived, SendEvent, Step, StepOptions, WaitFor};
pub use store::RunStore;
pub use supervisor::{PoolHealth, Supervisor, SupervisorHandle};
