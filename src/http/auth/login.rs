//! The dashboard's sign-in: `GET /login` (a server-rendered form, no script), `POST /login` (name and password →
//! session cookie, then `/dashboard`, whose pages are in `http::dashboard`) and `POST /logout` (behind the
//! middleware: needs the session and its CSRF token).

use super::identity::Identity;
use super::{DASHBOARD_PREFIX, passwords, sessions};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::store::auth::operators;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout));
}

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The warning every page shows when `INGOT_AUTH=off`.
pub fn auth_off_banner(state: &AppState) -> &'static str {
    if state.auth.config.enabled {
        ""
    } else {
        r#"<p role="alert" class="warning"><strong>Authentication is off</strong> (INGOT_AUTH=off): anyone who can reach this port can read and act.</p>"#
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Ingot</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#111;background:#fff}}
label{{display:block;margin:.75rem 0 .25rem}}input{{width:100%;padding:.5rem;font-size:1rem;border:1px solid #555}}
button{{margin-top:1rem;padding:.5rem 1rem;font-size:1rem;background:#1a4fa0;color:#fff;border:0}}
.warning{{background:#fff3cd;border:1px solid #8a6d00;padding:.5rem}}.error{{color:#a00000}}</style></head>
<body><main>{body}</main></body></html>"#
    )
}

fn login_page(state: &AppState, error: Option<&str>) -> String {
    let error = error.map_or(String::new(), |e| {
        format!(r#"<p class="error" role="alert">{}</p>"#, escape(e))
    });
    page(
        "Sign in",
        &format!(
            r#"<h1>Ingot</h1>{banner}{error}
<form method="post" action="/login">
<label for="name">Name</label><input id="name" name="name" autocomplete="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>"#,
            banner = auth_off_banner(state)
        ),
    )
}

fn html(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

pub async fn form(state: web::Data<AppState>) -> HttpResponse {
    html(actix_web::http::StatusCode::OK, login_page(&state, None))
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LoginForm {{ name: {:?}, password: *** }}", self.name)
    }
}

/// `POST /login`: a right name and password start a session (303 to the dashboard with the cookie); anything
/// else answers 401 with the form and one message, after the same argon2 work.
pub async fn login(state: web::Data<AppState>, form: web::Form<LoginForm>) -> Result<HttpResponse, ApiError> {
    let LoginForm { name, password } = form.into_inner();
    let operator = operators::by_name(&state.db, name.trim()).await?;
    let ok = passwords::verify_off_thread(password, operator.as_ref().map(|o| o.password_hash.clone())).await;
    let Some(operator) = operator.filter(|_| ok) else {
        tracing::info!("dashboard sign-in refused");
        return Ok(html(
            actix_web::http::StatusCode::UNAUTHORIZED,
            login_page(&state, Some("Wrong name or password.")),
        ));
    };
    let cookie = sessions::start(&state.db, &state.auth.config, &operator.id).await?;
    tracing::info!(user = %operator.name, "dashboard sign-in");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::SET_COOKIE, sessions::set_cookie(&state.auth.config, &cookie)))
        .insert_header((header::LOCATION, DASHBOARD_PREFIX))
        .finish())
}

/// `POST /logout`: ends the session (the middleware checked it and its CSRF token) and clears the cookie.
pub async fn logout(state: web::Data<AppState>, req: HttpRequest, _who: Identity) -> Result<HttpResponse, ApiError> {
    if let Some(cookie) = sessions::cookie_of(&req) {
        sessions::end(&state.db, &cookie).await?;
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::SET_COOKIE, sessions::clear_cookie(&state.auth.config)))
        .insert_header((header::LOCATION, "/login"))
        .finish())
}
