//! The operator's dashboard (issue 13): server-rendered HTML under `/dashboard`, protected by the auth middleware
//! like the API (a session cookie or a token; browsers that are not signed in go to `/login`). No script: every
//! page works with plain links and forms, and the only asset, the stylesheet, is embedded in the binary.
//!
//! Pages, one file each: [`runs`] (the list, also at `/dashboard`), [`run`] (one run and its timeline),
//! [`events`], [`functions`], [`health`]; [`actions`] holds the forms' POST handlers, which call the JSON API's
//! action functions; [`layout`] the page shell and helpers. Every value shown is HTML-escaped; payloads and
//! outputs come from the read API's queries, redacted as there.

pub mod actions;
pub mod events;
pub mod functions;
pub mod health;
pub mod layout;
pub mod run;
pub mod runs;

use actix_web::http::header;
use actix_web::{HttpResponse, web};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(runs::list))
        .route(layout::CSS_PATH, web::get().to(css))
        .route("/dashboard/runs", web::get().to(runs::list))
        .route("/dashboard/runs/cancel", web::post().to(actions::bulk_cancel))
        .route("/dashboard/runs/{id}", web::get().to(run::show))
        .route("/dashboard/runs/{id}/cancel", web::post().to(actions::cancel))
        .route("/dashboard/runs/{id}/rerun", web::post().to(actions::rerun))
        .route("/dashboard/events", web::get().to(events::list))
        .route("/dashboard/events/{id}", web::get().to(events::show))
        .route("/dashboard/functions", web::get().to(functions::list))
        .route("/dashboard/functions/replay", web::post().to(actions::replay))
        .route("/dashboard/functions/{id}/pause", web::post().to(actions::pause))
        .route("/dashboard/functions/{id}/resume", web::post().to(actions::resume))
        .route("/dashboard/health", web::get().to(health::show));
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .body(layout::CSS)
}
