//! The dashboard's page shell and small helpers: the layout (landmarks, navigation, the auth-off banner, the
//! flash notice, who is signed in and the sign-out form), HTML escaping, URL encoding, the flash cookie, time and
//! duration formats, and HTML errors.

use crate::http::AppState;
use crate::http::auth::Identity;
use crate::http::auth::identity::Principal;
use crate::http::auth::login::auth_off_banner;
use crate::http::error::ApiError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

pub use crate::http::auth::login::escape;

/// The stylesheet, embedded in the binary.
pub const CSS: &str = include_str!("assets/dashboard.css");
/// Where the stylesheet is served.
pub const CSS_PATH: &str = "/dashboard/assets/dashboard.css";

/// The flash cookie: a one-time notice carried across an action's 303 redirect.
pub const FLASH_COOKIE: &str = "ingot_flash";
/// Longest flash message kept (a cookie stays small).
const FLASH_MAX: usize = 600;

/// The pages, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Runs,
    Events,
    Functions,
    Health,
}

impl Nav {
    const ALL: [(Nav, &'static str, &'static str); 4] = [
        (Nav::Runs, "/dashboard/runs", "Runs"),
        (Nav::Events, "/dashboard/events", "Events"),
        (Nav::Functions, "/dashboard/functions", "Functions"),
        (Nav::Health, "/dashboard/health", "Health"),
    ];
}

/// A one-time notice after an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub ok: bool,
    pub message: String,
}

impl Flash {
    /// The cookie's value: `o` or `e`, then the message, hex-encoded (no character needs quoting in a cookie).
    pub fn encode(&self) -> String {
        let mut m = self.message.clone();
        if m.len() > FLASH_MAX {
            let mut cut = FLASH_MAX;
            while !m.is_char_boundary(cut) {
                cut -= 1;
            }
            m.truncate(cut);
        }
        format!("{}{}", if self.ok { 'o' } else { 'e' }, hex::encode(m))
    }

    pub fn decode(v: &str) -> Option<Flash> {
        let ok = match v.get(..1)? {
            "o" => true,
            "e" => false,
            _ => return None,
        };
        let bytes = hex::decode(v.get(1..)?).ok()?;
        if bytes.len() > FLASH_MAX {
            return None;
        }
        Some(Flash {
            ok,
            message: String::from_utf8(bytes).ok()?,
        })
    }

    /// The flash a request carries, if any.
    pub fn of(req: &HttpRequest) -> Option<Flash> {
        req.headers()
            .get_all(header::COOKIE)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == FLASH_COOKIE)
            .and_then(|(_, v)| Flash::decode(v))
    }
}

/// A 303 to `to` carrying a flash notice (the page that shows it removes the cookie).
pub fn redirect_with(to: &str, flash: Flash) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .insert_header((
            header::SET_COOKIE,
            format!(
                "{FLASH_COOKIE}={}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=60",
                flash.encode()
            ),
        ))
        .finish()
}

/// What every page needs: the state (for the auth-off banner), who is signed in, the request's flash.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub who: &'a Identity,
    pub flash: Option<Flash>,
}

impl<'a> Ctx<'a> {
    pub fn new(state: &'a AppState, who: &'a Identity, req: &HttpRequest) -> Ctx<'a> {
        Ctx {
            state,
            who,
            flash: Flash::of(req),
        }
    }

    /// The hidden CSRF field every form carries (empty for callers with a token or with auth off).
    pub fn csrf_field(&self) -> String {
        self.who.csrf_token.as_ref().map_or(String::new(), |t| {
            format!(r#"<input type="hidden" name="csrf_token" value="{}">"#, escape(t))
        })
    }

    /// Whether to show action forms (a read-only token sees none; the server refuses them anyway).
    pub fn can_act(&self) -> bool {
        self.who.can_act()
    }
}

/// A page: `title`, the current navigation entry, an optional meta refresh (seconds), the body (HTML).
pub fn page(ctx: &Ctx, title: &str, nav: Option<Nav>, refresh: Option<u32>, body: &str) -> HttpResponse {
    let links: String = Nav::ALL
        .iter()
        .map(|(n, href, label)| {
            let current = if Some(*n) == nav { r#" aria-current="page""# } else { "" };
            format!(r#"<li><a href="{href}"{current}>{label}</a></li>"#)
        })
        .collect();
    let refresh = refresh.map_or(String::new(), |s| {
        format!(r#"<meta http-equiv="refresh" content="{s}">"#)
    });
    let flash = ctx.flash.as_ref().map_or(String::new(), |f| {
        let (class, role) = if f.ok {
            ("notice", "status")
        } else {
            ("notice error", "alert")
        };
        format!(
            r#"<p class="{class}" role="{role}" id="flash">{}</p>"#,
            escape(&f.message)
        )
    });
    let who = match &ctx.who.principal {
        Principal::User { name } => format!("Signed in as <strong>{}</strong>", escape(name)),
        Principal::AuthOff => "Nobody is signed in (<strong>auth-off</strong>)".to_string(),
        _ => format!("Signed in with <strong>{}</strong>", escape(&ctx.who.who())),
    };
    let logout = if ctx.who.csrf_token.is_some() {
        format!(
            r#"<form method="post" action="/logout" class="inline">{}<button type="submit" class="link">Sign out</button></form>"#,
            ctx.csrf_field()
        )
    } else {
        String::new()
    };
    let html = format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
{refresh}<title>{title} · Ingot</title><link rel="stylesheet" href="{CSS_PATH}"></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><nav aria-label="Main"><a class="brand" href="/dashboard">Ingot</a><ul>{links}</ul></nav>
<p class="who">{who} {logout}</p></header>
{banner}{flash}
<main id="main" tabindex="-1"><h1>{title}</h1>
{body}</main>
<footer><p>Ingot {version}. Times are UTC.</p></footer></body></html>"##,
        title = escape(title),
        banner = auth_off_banner(ctx.state),
        version = env!("CARGO_PKG_VERSION"),
    );
    let mut r = HttpResponse::Ok();
    r.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if ctx.flash.is_some() {
        r.insert_header((
            header::SET_COOKIE,
            format!("{FLASH_COOKIE}=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0"),
        ));
    }
    r.body(html)
}

/// A page's failure, as HTML (the JSON API's [`ApiError`] underneath: same statuses, same hidden details).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PageError(#[from] pub ApiError);

impl From<crate::store::Error> for PageError {
    fn from(e: crate::store::Error) -> Self {
        PageError(e.into())
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(detail) = &self.0 {
            tracing::error!(error = %detail, "dashboard page failed");
        }
        let status = self.status_code();
        HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(format!(
                r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{code} · Ingot</title><link rel="stylesheet" href="{CSS_PATH}"></head>
<body><main id="main"><h1>{code} {reason}</h1><p role="alert">{message}</p><p><a href="/dashboard/runs">Back to the runs</a></p></main></body></html>"#,
                code = status.as_u16(),
                reason = status.canonical_reason().unwrap_or(""),
                message = escape(&self.0.to_string()),
            ))
    }
}

pub type Page = Result<HttpResponse, PageError>;

/// Percent-encodes a value for a URL's query or path (everything but RFC 3986's unreserved characters).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string (`?a=1&b=2`, empty values left out) from pairs.
pub fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| format!("{k}={}", url_encode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// A duration in ms, short: `850 ms`, `12.3 s`, `4 min 10 s`, `2 h 5 min`, `3 d 4 h`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms} ms");
    }
    if ms < 60_000 {
        return format!("{:.1} s", ms as f64 / 1000.0);
    }
    let s = ms / 1000;
    if s < 3600 {
        return format!("{} min {} s", s / 60, s % 60);
    }
    if s < 86_400 {
        return format!("{} h {} min", s / 3600, (s % 3600) / 60);
    }
    format!("{} d {} h", s / 86_400, (s % 86_400) / 3600)
}

/// An engine time (ms) as `2026-12-03 05:18:01` (UTC).
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A `<time>` element for an engine time.
pub fn time_el(ms: i64) -> String {
    format!(
        r#"<time datetime="{}">{}</time>"#,
        ingot_actors::time::rfc3339(ms),
        time(ms)
    )
}

/// A time typed in a form: RFC 3339, or a `datetime-local` value (`2026-12-03T05:18`, seconds optional) read as
/// UTC. Returns ms since the epoch.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    for f in [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Ok(t.and_utc().timestamp_millis());
        }
    }
    Err(format!("{s:?} is not a time (2026-12-03T05:18 in UTC, or RFC 3339)"))
}

/// The form value of an engine time for a `datetime-local` input.
pub fn time_input(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// A status as a labelled badge (text, not colour alone, carries the meaning).
pub fn status_badge(status: &str) -> String {
    format!(r#"<span class="status status-{s}">{s}</span>"#, s = escape(status))
}

/// Pretty JSON in a `<pre>`, escaped.
pub fn json_block(v: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    format!("<pre class=\"json\">{}</pre>", escape(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flash_survives_its_cookie_and_bad_cookies_are_ignored() {
        let f = Flash {
            ok: false,
            message: "Run \"x\" has <already> finished; ünïcode".into(),
        };
        let v = f.encode();
        assert!(v.bytes().all(|b| b.is_ascii_alphanumeric()), "{v}");
        assert_eq!(Flash::decode(&v), Some(f));
        assert_eq!(Flash::decode("xabc"), None);
        assert_eq!(Flash::decode("ozz"), None);
        assert_eq!(Flash::decode(""), None);
        let long = Flash {
            ok: true,
            message: "é".repeat(FLASH_MAX),
        };
        let back = Flash::decode(&long.encode()).unwrap();
        assert!(back.message.len() <= FLASH_MAX && back.message.starts_with('é'));
    }

    #[test]
    fn urls_encode_everything_but_unreserved_characters() {
        assert_eq!(url_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(
            query(&[
                ("function", Some("f-1")),
                ("status", None),
                ("q", Some("")),
                ("event", Some("a/b"))
            ]),
            "?function=f-1&event=a%2Fb"
        );
        assert_eq!(query(&[("q", None)]), "");
    }

    #[test]
    fn durations_and_times_read_short() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_345), "12.3 s");
        assert_eq!(duration(250_000), "4 min 10 s");
        assert_eq!(duration(7_500_000), "2 h 5 min");
        assert_eq!(duration(-5), "0 ms");
        assert_eq!(time(1_700_000_000_000), "2023-11-14 22:13:20");
        assert_eq!(parse_time("2023-11-14T22:13").unwrap(), 1_699_999_980_000);
        assert_eq!(parse_time("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time(&time_input(1_699_999_980_000)).unwrap(), 1_699_999_980_000);
        assert!(parse_time("yesterday").is_err());
    }
}
