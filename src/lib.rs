//! # Ingot
//!
//! A self-hosted, durable, event-driven job processor, with the course platform's workflows compiled in.
//! See `ARCHITECTURE.md` for the map; this crate is the application around the `ingot-actors` runtime:
//!
//! - [`store`]: SQLite / PostgreSQL through Diesel — schema, migrations, the run store, intake, reads.
//! - [`platform`]: the course platform's data (users, roles, communication preferences).
//! - [`functions`]: the platform's workflows, registered with the runtime.
//! - [`http`]: the actix-web API — event intake, health, read API, provider webhooks.
//! - [`metrics`]: `GET /metrics` in the Prometheus text format; [`telemetry`]: OpenTelemetry traces over OTLP.
//! - [`integrations`], [`email`]: clients of external services, each a rate-limited service actor.
//! - [`config`], [`daemon`], [`cli`], [`systemd`]: configuration, the `ingot serve` daemon, the command line.
//! - [`mod@bench`]: the throughput and latency benchmark (`ingot bench`).
// The crate's documentation is for its maintainers (`cargo doc --document-private-items` in CI), so a module's
// doc comment may link to the private items it is made of.
#![allow(rustdoc::private_intra_doc_links)]

pub mod bench;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod email;
pub mod functions;
pub mod http;
pub mod integrations;
pub mod metrics;
pub mod platform;
pub mod seed;
pub mod store;
pub mod systemd;
pub mod telemetry;
pub mod tls;
