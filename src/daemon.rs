//! `ingot serve`: connect, migrate, validate the registry, start the supervisor and the HTTP API, tell systemd
//! we are ready, and on SIGTERM/SIGINT stop gracefully — stop intake, let in-flight steps finish (bounded by
//! `INGOT_SHUTDOWN_TIMEOUT`), hand unfinished runs back, exit 0.

use crate::config::Config;
use crate::functions::{self, Deps};
use crate::http::{self, AppState};
use crate::store::runs::DbRunStore;
use crate::store::{Db, migrate};
use crate::systemd;
use anyhow::Context;
use ingot_actors::heartbeat::Heartbeat;
use ingot_actors::{Registry, Runtime, RuntimeConfig, SupervisorHandle};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs the daemon until a signal stops it. Extra functions (the bench's) may be added to the registry.
pub fn serve(config: Config, extra: Vec<ingot_actors::FunctionDef>) -> anyhow::Result<()> {
    actix_rt::System::new().block_on(run(config, extra, |_| {}, shutdown_signal()))
}

/// What an in-process caller learns once the daemon serves.
pub struct Started {
    pub addr: std::net::SocketAddr,
    pub runtime: Arc<Runtime>,
}

/// The daemon's body: `ready` is called with the address the API listens on (and the runtime) once it serves; the daemon stops
/// gracefully when `stop` resolves (a signal, or a test/bench trigger). Tests and the bench run it in-process
/// on their own actix `System` with extra functions.
pub async fn run(
    config: Config,
    extra: Vec<ingot_actors::FunctionDef>,
    ready: impl FnOnce(Started),
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = Arc::new(config);
    if config.event_keys.is_empty() {
        tracing::warn!("INGOT_EVENT_KEYS is empty: POST /e/{{key}} accepts any key");
    }
    tracing::info!(database = %config.database_url.redacted(), node_id = %config.node_id, "starting");
    // Bind first: a second daemon started by mistake on the same address stops here, before it touches runs.
    let listener =
        std::net::TcpListener::bind(config.listen).with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr().context("listener address")?;
    let db = Db::connect(&config.database_url, &config.pool)
        .await
        .context("database")?;
    let applied = migrate::run(&db).await.context("migrations")?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    crate::http::auth::bootstrap::at_start(&db, &config)
        .await
        .context("authentication")?;
    let deps = Deps::new(db.clone(), config.clone());
    crate::integrations::log_configured(&config.integrations, &deps.integrations);
    let mut defs = functions::all(&deps);
    defs.extend(extra);
    let registry = Arc::new(Registry::new(defs).context("function registry")?);
    let store = DbRunStore::new(db.clone());
    let metrics = Arc::new(crate::metrics::AppMetrics::new(store.writer_stats()));
    let rt = Runtime::new(runtime_config(&config), Arc::new(store), registry.clone());
    let traces = match &config.otlp_endpoint {
        Some(endpoint) => {
            let otlp = crate::telemetry::Otlp::start(endpoint, &config.node_id).context("OpenTelemetry")?;
            rt.set_trace_sink(otlp.clone());
            tracing::info!(
                collector = %crate::telemetry::without_userinfo(endpoint),
                "traces exported over OTLP"
            );
            Some(otlp)
        }
        None => None,
    };
    // The node list's start time (`/health`'s `nodes`); the heartbeat thread keeps it live.
    crate::store::nodes::started(&db, &config.node_id, ingot_actors::time::now_ms())
        .await
        .context("node registration")?;
    let supervisor = SupervisorHandle::start(rt.clone()).await.context("supervisor")?;
    // The heartbeat and the watchdog on a thread of their own, with connections of their own: a step that blocks
    // an engine thread cannot let this node's leases lapse (another node would run the step a second time).
    let heartbeat_db = db.own_pools().context("heartbeat database handle")?;
    let heartbeat = Heartbeat::start(
        config.node_id.clone(),
        config.lease_ttl,
        systemd::watchdog_hook(),
        Box::new(move || Arc::new(DbRunStore::new(heartbeat_db))),
    )
    .context("heartbeat thread")?;
    let retention = Arc::new(crate::store::retention::StatsCell::default());
    let pruner = actix_rt::spawn(crate::store::retention::run_pruner(
        db.clone(),
        config.retention,
        config.prune_interval,
        config.prune_batch,
        retention.clone(),
    ));
    let state = AppState {
        db: db.clone(),
        // Replaced by each HTTP worker's own (a committer starts on first use, on the worker's runtime).
        intake: crate::store::events::group::Intake::new(db.clone(), metrics.intake.clone()),
        config: config.clone(),
        registry,
        supervisor: supervisor.clone(),
        started,
        integrations: deps.integrations.clone(),
        retention,
        auth: Arc::new(crate::http::auth::AuthState::new(config.auth.clone())),
        metrics,
    };
    let server = http::serve(state, listener).with_context(|| format!("cannot serve on {addr}"))?;
    tracing::info!(%addr, "listening on http://{addr}");
    let handle = server.handle();
    let server_task = actix_rt::spawn(server);
    systemd::ready();
    tracing::info!(startup_ms = started.elapsed().as_millis() as u64, "ready");
    ready(Started {
        addr,
        runtime: rt.clone(),
    });

    stop.await;
    tracing::info!("shutting down: intake stopped, letting in-flight steps finish");
    systemd::stopping();
    pruner.abort();
    let stop_http = handle.stop(true);
    let drained = supervisor.shutdown(config.shutdown_timeout).await;
    // Heartbeats went on while in-flight steps finished; the node's runs are handed back now.
    let _ = tokio::task::spawn_blocking(move || heartbeat.stop()).await;
    stop_http.await;
    let _ = server_task.await;
    if let Some(otlp) = traces {
        otlp.shutdown(Duration::from_secs(5)).await;
    }
    if drained {
        tracing::info!("stopped cleanly");
    } else {
        tracing::warn!("shutdown timeout reached; unfinished runs resume on the next start");
    }
    Ok(())
}

pub fn runtime_config(config: &Config) -> RuntimeConfig {
    RuntimeConfig {
        node_id: config.node_id.clone(),
        max_runs_per_function: config.max_runs_per_function,
        mailbox_capacity: config.mailbox_capacity,
        poll_interval: config.poll_interval,
        lease_ttl: config.lease_ttl,
        backoff: config.retry_backoff,
        engine_threads: config.engine_threads,
        wait_lookback: config.wait_lookback,
        wake_ahead: config.wake_ahead,
        claim_gap: config.claim_gap,
        claim_gap_busy: config.claim_gap_busy,
        wake_lookup_gap: ingot_actors::pool::WAKE_LOOKUP_GAP,
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_engine_takes_its_settings_from_the_config() {
        let values = [
            ("max_runs_per_function", "9"),
            ("mailbox_capacity", "32"),
            ("claim_gap", "20ms"),
            ("claim_gap_busy", "7"),
            ("wake_ahead", "1s"),
            ("engine_threads", "2"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let rt = runtime_config(&Config::from_values(&values).unwrap());
        assert_eq!((rt.max_runs_per_function, rt.mailbox_capacity), (9, 32));
        assert_eq!((rt.claim_gap, rt.claim_gap_busy), (Duration::from_millis(20), 7));
        assert_eq!((rt.wake_ahead, rt.engine_threads), (Duration::from_secs(1), 2));
    }
}
