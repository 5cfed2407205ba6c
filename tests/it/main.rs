//! The integration suite: one binary. Every test runs on a fresh SQLite file and on a fresh PostgreSQL database
//! (`both!`), against the real daemon — the `ingot` binary as a child process (crash and signal tests) or the
//! same daemon in-process with extra test functions (engine semantics).

mod support;

mod actions;
mod auth;
mod bench_flood;
mod bench_one_step;
mod bench_soak;
mod bench_user_created;

mod catalogue;
mod claim_order;
mod config;
mod crash;
mod crash_steps;
mod dashboard;
mod docs;
mod email;
mod engine;
mod flow;
mod heartbeat;
mod intake;
mod intake_groups;
mod intake_props;
mod integrations;
mod lifecycle;
mod limits;
mod metrics;
mod nodes;
mod pg_tls;
mod platform;
mod prepared;
mod pure_steps;
mod read_api;
mod read_steps;
mod retention;
mod run_search;
mod schema;
mod secrets;
mod singleton;
mod step_retries;
mod steps;
mod traces;
mod tx_steps;
mod wait_any;
mod wait_fencing;
mod webhooks;
mod workflows;
mod write_isolation;
