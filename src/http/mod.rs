//! The HTTP API (actix-web): event intake (wire-compatible with Inngest's `POST /e/{event_key}`), health, and the
//! read API. Handlers never block: database calls are async and the supervisor is only ever `try_send`-woken.
//!
//! Every route except intake, webhooks, `/health`, `/health/ready` and `/login` needs credentials (see [`auth`]).
//!
//! Request logs carry the route pattern (`/e/{event_key}`), never the concrete path, so event keys stay out of
//! the logs.

pub mod actions;
pub mod api;
pub mod auth;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod guard;
pub mod health;
pub mod intake;
pub mod metrics;
pub mod webhooks;

use crate::config::Config;
use crate::store::Db;
use actix_web::dev::Service;
use actix_web::{App, HttpServer, web};
use ingot_actors::{Registry, SupervisorHandle};
use std::sync::Arc;
use std::time::Instant;

/// What handlers share. `db` is per HTTP worker thread (see [`Db::for_another_runtime`]).
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// The intake's group commit, per HTTP worker like `db` ([`crate::store::events::group`]).
    pub intake: crate::store::events::group::Intake,
    pub config: Arc<Config>,
    pub registry: Arc<Registry>,
    pub supervisor: SupervisorHandle,
    pub started: Instant,
    /// External services: figures for `/health`.
    pub integrations: crate::integrations::Integrations,
    /// The pruner's figures for `/health`.
    pub retention: Arc<crate::store::retention::StatsCell>,
    /// Authentication settings and token-use bookkeeping (src/http/auth/).
    pub auth: Arc<auth::AuthState>,
    /// HTTP request counters and the group-commit writer's figures for `/metrics`.
    pub metrics: Arc<crate::metrics::AppMetrics>,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/e/{event_key}", web::post().to(events::ingest))
        .route("/health", web::get().to(health::health))
        .route("/health/ready", web::get().to(health::ready))
        // Behind the API's auth like the read API (a read-only token is enough): it names functions and volumes.
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/api/v1/events/{id}", web::get().to(api::get_event))
        .route("/api/v1/runs", web::get().to(api::list_runs))
        .route("/api/v1/runs/{id}", web::get().to(api::get_run))
        .route("/api/v1/runs/cancel", web::post().to(actions::runs::bulk_cancel))
        .route("/api/v1/runs/{id}/cancel", web::post().to(actions::runs::cancel_run))
        .route("/api/v1/runs/{id}/rerun", web::post().to(actions::runs::rerun))
        .route("/api/v1/functions", web::get().to(api::functions))
        .route(
            "/api/v1/functions/{id}/replay",
            web::post().to(actions::functions::replay),
        )
        .route(
            "/api/v1/functions/{id}/pause",
            web::post().to(actions::functions::pause),
        )
        .route(
            "/api/v1/functions/{id}/resume",
            web::post().to(actions::functions::resume),
        )
        .route("/api/v1/actions", web::get().to(actions::list))
        .route("/api/v1/drain", web::get().to(api::drain))
        .configure(webhooks::routes)
        .configure(auth::login::routes)
        .configure(dashboard::routes);
}

/// Serves the API on a listener the daemon bound first (so a taken port fails start-up before anything else
/// happens). Returns the server, not yet running.
pub fn serve(state: AppState, listener: std::net::TcpListener) -> std::io::Result<actix_web::dev::Server> {
    let workers = state.config.http_workers;
    let shutdown = state.config.shutdown_timeout.as_secs().max(1);
    let gate = Arc::new(guard::Gate::new(&state.config, listener.local_addr()?));
    let server = HttpServer::new(move || {
        let gate = gate.clone();
        let mut worker_state = state.clone();
        let counters = state.metrics.clone();
        match state.db.for_another_runtime() {
            Ok(db) => worker_state.db = db,
            Err(e) => tracing::error!(error = %e, "could not open a database pool for an HTTP worker"),
        }
        worker_state.intake =
            crate::store::events::group::Intake::new(worker_state.db.clone(), worker_state.metrics.intake.clone());
        App::new()
            .app_data(web::Data::new(worker_state))
            .app_data(web::Data::from(gate.clone()))
            .app_data(
                web::PathConfig::default().error_handler(|e, _| error::ApiError::BadRequest(e.to_string()).into()),
            )
            .app_data(
                web::QueryConfig::default().error_handler(|e, _| error::ApiError::BadRequest(e.to_string()).into()),
            )
            // Innermost first: authentication, then the guard (Host, content type, admission: cheap refusals
            // before any credential check), then the request counter, outermost, so refusals are counted too.
            .wrap(actix_web::middleware::from_fn(auth::middleware::authenticate))
            .wrap_fn(move |req, srv| {
                // The probes answer any Host (an orchestrator probes the pod's address); they carry no payloads.
                let probe = matches!(req.path(), "/health" | "/health/ready");
                let host = if probe { Ok(()) } else { gate.check_host(req.request()) };
                let checked = host.and_then(|_| {
                    if guard::needs_json(req.request()) {
                        guard::check_json(req.request())?;
                    }
                    if guard::exempt(req.request()) {
                        return Ok(None);
                    }
                    let length = req
                        .headers()
                        .get(actix_web::http::header::CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<usize>().ok());
                    gate.admit(length).map(Some)
                });
                match checked {
                    Ok(admitted) => {
                        let fut = srv.call(req);
                        futures_util::future::Either::Left(async move {
                            let res = fut.await;
                            drop(admitted);
                            res.map(|r| r.map_into_boxed_body())
                        })
                    }
                    Err(e) => futures_util::future::Either::Right(std::future::ready(Ok(req.error_response(e)))),
                }
            })
            .wrap_fn(move |req, srv| {
                let started = Instant::now();
                let method = req.method().clone();
                let route = req.match_pattern().unwrap_or_else(|| "<unmatched>".into());
                let fut = srv.call(req);
                let counters = counters.clone();
                async move {
                    let res = fut.await?;
                    let status = res.status().as_u16();
                    counters.count_request(method.as_str(), &route, status);
                    tracing::debug!(%method, route, status, elapsed_ms = started.elapsed().as_millis() as u64, "http");
                    Ok(res)
                }
            })
            .configure(routes)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(error::ApiError::NotFound("no such route".into()))
            }))
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(shutdown)
    .listen(listener)?;
    Ok(server.run())
}
