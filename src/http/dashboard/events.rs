//! `GET /dashboard/events` (received events, newest first, by name, cursor pages) and `GET /dashboard/events/{id}`
//! (its payload, redacted as in the read API; the runs it started; the functions that skipped it and why, as
//! `run_skips` records them: rate limit, idempotency, debounce...; whether it was a duplicate).

use super::layout::{self, Ctx, Nav, Page, PageError, escape, json_block, query, url_encode};
use crate::http::AppState;
use crate::http::auth::Identity;
use crate::http::error::ApiError;
use crate::store::read::{self, Cursor};
use actix_web::{HttpRequest, web};
use serde::Deserialize;

/// Events per page.
pub const PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub before: String,
}

pub async fn list(req: HttpRequest, q: web::Query<EventsQuery>, state: web::Data<AppState>, who: Identity) -> Page {
    let name = Some(q.name.trim()).filter(|n| !n.is_empty());
    let before = match q.before.trim() {
        "" => None,
        c => Some(Cursor::parse(c).ok_or_else(|| PageError(ApiError::BadRequest("bad page cursor".into())))?),
    };
    let mut events = read::list_events(&state.db, name, before.as_ref(), PAGE + 1).await?;
    let next = if events.len() as i64 > PAGE {
        events.truncate(PAGE as usize);
        events.last().map(|e| Cursor {
            created_at: e.received_ms,
            id: e.id.clone(),
        })
    } else {
        None
    };
    let ctx = Ctx::new(&state, &who, &req);
    let mut body = format!(
        r#"<form method="get" action="/dashboard/events" class="filters" role="search" aria-label="Filter events">
<div><label for="e-name">Event name</label><input id="e-name" name="name" value="{}"></div>
<div><button type="submit">Filter</button> <a href="/dashboard/events">Clear</a></div></form>"#,
        escape(&q.name)
    );
    if events.is_empty() {
        body.push_str("<p>No events.</p>");
    } else {
        let rows: String = events
            .iter()
            .map(|e| {
                format!(
                    r#"<tr><td><a href="/dashboard/events/{}"><code>{}</code></a></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                    url_encode(&e.id),
                    escape(&e.id),
                    escape(&e.name),
                    layout::time_el(e.received_ms),
                    if e.duplicate { "duplicate" } else { "" }
                )
            })
            .collect();
        body.push_str(&format!(
            r#"<table id="events"><caption class="muted">Newest first</caption><thead><tr><th scope="col">Event</th><th scope="col">Name</th><th scope="col">Received</th><th scope="col">Note</th></tr></thead><tbody>{rows}</tbody></table>"#
        ));
    }
    body.push_str(r#"<nav class="pager" aria-label="Pages">"#);
    if before.is_some() {
        body.push_str(&format!(
            r#"<a href="/dashboard/events{}">First page</a>"#,
            escape(&query(&[("name", name)]))
        ));
    }
    if let Some(c) = next {
        let c = c.to_string();
        body.push_str(&format!(
            r#"<a href="/dashboard/events{}" rel="next">Next page</a>"#,
            escape(&query(&[("name", name), ("before", Some(&c))]))
        ));
    }
    body.push_str("</nav>");
    Ok(layout::page(&ctx, "Events", Some(Nav::Events), None, &body))
}

pub async fn show(req: HttpRequest, id: web::Path<String>, state: web::Data<AppState>, who: Identity) -> Page {
    let id = id.into_inner();
    let Some(e) = read::get_event(&state.db, &id).await? else {
        return Err(PageError(ApiError::NotFound(format!("no event {id:?}"))));
    };
    let ctx = Ctx::new(&state, &who, &req);
    let name = e.event["name"].as_str().unwrap_or_default().to_string();
    let mut body = format!(
        r#"<dl class="facts"><dt>Name</dt><dd>{}</dd><dt>Received</dt><dd>{}</dd><dt>Duplicate</dt><dd>{}</dd></dl>"#,
        escape(&name),
        escape(&e.received_at),
        if e.duplicate {
            "yes: its id was seen within 24 h, so it started nothing"
        } else {
            "no"
        }
    );
    body.push_str(&format!(
        r#"<p><a href="/dashboard/runs{}">Runs of events named {}</a></p>"#,
        escape(&query(&[("event", Some(&name))])),
        escape(&name)
    ));
    body.push_str(r#"<h2 id="started">Runs it started</h2>"#);
    if e.run_ids.is_empty() {
        body.push_str("<p>None.</p>");
    } else {
        let items: String = e
            .run_ids
            .iter()
            .map(|r| {
                format!(
                    r#"<li><a href="/dashboard/runs/{}"><code>{}</code></a></li>"#,
                    url_encode(r),
                    escape(r)
                )
            })
            .collect();
        body.push_str(&format!("<ul>{items}</ul>"));
    }
    body.push_str(r#"<h2 id="skipped">Functions that skipped it</h2>"#);
    if e.skipped.is_empty() {
        body.push_str("<p>None recorded.</p>");
    } else {
        let rows: String = e
            .skipped
            .iter()
            .map(|s| {
                format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&s.function_id),
                    escape(&s.reason),
                    s.existing_run_id
                        .as_deref()
                        .map(|r| format!(
                            r#"<a href="/dashboard/runs/{}"><code>{}</code></a>"#,
                            url_encode(r),
                            escape(r)
                        ))
                        .unwrap_or_default()
                )
            })
            .collect();
        body.push_str(&format!(
            r#"<table><thead><tr><th scope="col">Function</th><th scope="col">Why</th><th scope="col">The run it went to</th></tr></thead><tbody>{rows}</tbody></table>"#
        ));
    }
    body.push_str(r#"<h2 id="payload">Payload</h2>"#);
    body.push_str(&json_block(&e.event));
    Ok(layout::page(
        &ctx,
        &format!("Event {name}"),
        Some(Nav::Events),
        None,
        &body,
    ))
}
