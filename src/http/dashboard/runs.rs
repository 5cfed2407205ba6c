//! `GET /dashboard/runs` (and `/dashboard`): the runs list, newest first, with filters (function, status, event
//! name, creation time range, free text, a CEL expression over the event and the output), counts per status,
//! cursor pagination, a meta refresh every [`REFRESH_SECS`] (live updates without script; `live=0` stops it; never
//! under CEL, whose every reload would repeat its scan), and the bulk cancel of the current filter.

use super::layout::{self, Ctx, Nav, Page, escape, query, status_badge, url_encode};
use crate::http::AppState;
use crate::http::auth::Identity;
use crate::http::error::ApiError;
use crate::store::read::{self, Cursor, RunFilter};
use crate::store::run_search;
use crate::store::runs::cancel::cancellable;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use ingot_actors::expr::{Expr, ExprError};
use ingot_actors::run::state::RunStatus;
use serde::Deserialize;

/// Runs per page, unless `limit` says otherwise (1 to [`MAX_PAGE`]).
pub const PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 500;
/// Seconds between refreshes of a live page.
pub const REFRESH_SECS: u32 = 5;

/// The list's query string (also the filter form's fields). Empty values mean "any".
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RunsQuery {
    #[serde(default)]
    pub function: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub event: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub q: String,
    /// A CEL expression over `event` and `output` ([`run_search`]).
    #[serde(default)]
    pub cel: String,
    #[serde(default)]
    pub before: String,
    /// `0`: no auto-refresh.
    #[serde(default)]
    pub live: String,
    /// Runs per page.
    #[serde(default)]
    pub limit: String,
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

impl RunsQuery {
    /// The store's filter, or a 400 for a value that is not one.
    pub fn filter(&self) -> Result<RunFilter, ApiError> {
        let status = match some(&self.status) {
            None => None,
            Some(s) => Some(RunStatus::parse(&s).ok_or_else(|| ApiError::BadRequest(format!("unknown status {s:?}")))?),
        };
        let time = |v: &str, field: &str| {
            some(v)
                .map(|t| layout::parse_time(&t).map_err(|e| ApiError::BadRequest(format!("{field}: {e}"))))
                .transpose()
        };
        let before = match some(&self.before) {
            None => None,
            Some(c) => Some(Cursor::parse(&c).ok_or_else(|| ApiError::BadRequest("bad page cursor".into()))?),
        };
        let limit = match some(&self.limit) {
            None => PAGE,
            Some(l) => l
                .parse::<i64>()
                .ok()
                .filter(|l| (1..=MAX_PAGE).contains(l))
                .ok_or_else(|| ApiError::BadRequest(format!("limit must be between 1 and {MAX_PAGE}")))?,
        };
        Ok(RunFilter {
            function_id: some(&self.function),
            status,
            event_name: some(&self.event),
            from_ms: time(&self.from, "from")?,
            to_ms: time(&self.to, "to")?,
            text: some(&self.q),
            before,
            limit,
        })
    }

    /// The CEL filter, compiled, if one is given.
    pub fn cel(&self) -> Result<Option<Expr>, ExprError> {
        some(&self.cel).map(|c| run_search::compile(&c)).transpose()
    }

    /// The filter as query pairs (no cursor), for links that keep it.
    fn pairs(&self) -> Vec<(&'static str, Option<&str>)> {
        vec![
            ("function", Some(self.function.as_str())),
            ("status", Some(self.status.as_str())),
            ("event", Some(self.event.as_str())),
            ("from", Some(self.from.as_str())),
            ("to", Some(self.to.as_str())),
            ("q", Some(self.q.as_str())),
            ("cel", Some(self.cel.as_str())),
            ("live", Some(self.live.as_str())),
            ("limit", Some(self.limit.as_str())),
        ]
    }

    /// This filter's URL with some fields replaced.
    pub fn url(&self, with: &[(&'static str, Option<&str>)]) -> String {
        let mut pairs = self.pairs();
        for (k, v) in with {
            match pairs.iter_mut().find(|(pk, _)| pk == k) {
                Some(p) => p.1 = *v,
                None => pairs.push((k, *v)),
            }
        }
        format!("/dashboard/runs{}", query(&pairs))
    }
}

pub async fn list(req: HttpRequest, q: web::Query<RunsQuery>, state: web::Data<AppState>, who: Identity) -> Page {
    let q = q.into_inner();
    let filter = q.filter()?;
    let ctx = Ctx::new(&state, &who, &req);
    // A bad expression is refused before anything is read: the form again, with the message.
    let cel = match q.cel() {
        Ok(cel) => cel,
        Err(e) => {
            let body = format!(
                r#"{}<p class="notice error" role="alert" id="cel-error">The CEL filter was not applied: {}</p>"#,
                filter_form(&state, &q),
                escape(&e.to_string())
            );
            let mut page = layout::page(&ctx, "Runs", Some(Nav::Runs), None, &body);
            *page.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(page);
        }
    };
    let (runs, next, scan) = match &cel {
        None => {
            let (runs, next) = read::page_runs(&state.db, &filter).await?;
            (runs, next, None)
        }
        Some(expr) => {
            let now = ingot_actors::time::now_ms();
            let page = run_search::page_matching(&state.db, &filter, expr, state.config.runs_filter_scan, now).await?;
            (page.runs, page.next, Some(page.scan))
        }
    };
    let counts = read::status_counts(&state.db, &filter).await?;
    // A CEL page does not reload itself: every reload would repeat its scan.
    let live = q.live != "0" && cel.is_none();

    let mut body = filter_form(&state, &q);
    body.push_str(&counts_list(&q, &counts));
    if cel.is_some() {
        body.push_str(r#"<p class="muted" id="counts-note">The counts leave the CEL expression out: it is evaluated only for the runs a page shows. A page filtered by CEL does not reload itself.</p>"#);
    } else {
        body.push_str(&format!(
            r#"<p class="muted">{} <a href="{}">{}</a></p>"#,
            if live {
                format!("Live: this page reloads every {REFRESH_SECS} s.")
            } else {
                "Live updates are paused.".into()
            },
            escape(&q.url(&[("live", if live { Some("0") } else { None }), ("before", None)])),
            if live {
                "Pause live updates"
            } else {
                "Resume live updates"
            },
        ));
    }
    if let Some(scan) = &scan {
        body.push_str(&scan_note(scan));
    }
    body.push_str(&runs_table(&runs));
    body.push_str(r#"<nav class="pager" aria-label="Pages">"#);
    if filter.before.is_some() {
        body.push_str(&format!(
            r#"<a href="{}">First page</a>"#,
            escape(&q.url(&[("before", None)]))
        ));
    }
    if let Some(c) = next {
        let label = if scan.as_ref().is_some_and(|s| s.capped) {
            "Continue the search"
        } else {
            "Next page"
        };
        body.push_str(&format!(
            r#"<a href="{}" rel="next">{label}</a>"#,
            escape(&q.url(&[("before", Some(&c.to_string()))]))
        ));
    }
    body.push_str("</nav>");
    if ctx.can_act() {
        body.push_str(&bulk_cancel_form(&ctx, &q, &filter, &counts));
    }
    // A page further down the list does not move; only the first page is live.
    let refresh = (live && filter.before.is_none()).then_some(REFRESH_SECS);
    Ok(layout::page(&ctx, "Runs", Some(Nav::Runs), refresh, &body))
}

/// How far a CEL page's scan went, and whether it stopped at the cap.
fn scan_note(scan: &run_search::Scan) -> String {
    if scan.capped {
        format!(
            r#"<p class="notice" role="status" id="scan-capped">The CEL filter stopped after evaluating {} runs, the most one page evaluates (<code>INGOT_RUNS_FILTER_SCAN</code>): more runs may match further down the list. “Continue the search” goes on from the last run evaluated.</p>"#,
            scan.scanned
        )
    } else {
        format!(
            r#"<p class="muted" id="scan-note">The CEL filter evaluated {} runs for this page.</p>"#,
            scan.scanned
        )
    }
}

fn filter_form(state: &AppState, q: &RunsQuery) -> String {
    let mut functions: Vec<&str> = state.registry.functions().map(|f| f.def.id.as_str()).collect();
    functions.sort_unstable();
    let option = |value: &str, label: &str, selected: bool| {
        format!(
            r#"<option value="{}"{}>{}</option>"#,
            escape(value),
            if selected { " selected" } else { "" },
            escape(label)
        )
    };
    let mut fn_options = option("", "Any function", q.function.is_empty());
    for f in functions {
        fn_options.push_str(&option(f, f, q.function == f));
    }
    let mut st_options = option("", "Any status", q.status.is_empty());
    for s in RunStatus::ALL {
        st_options.push_str(&option(s.as_str(), s.as_str(), q.status == s.as_str()));
    }
    let mut hidden = String::new();
    if q.live == "0" {
        hidden.push_str(r#"<input type="hidden" name="live" value="0">"#);
    }
    if !q.limit.is_empty() {
        hidden.push_str(&format!(
            r#"<input type="hidden" name="limit" value="{}">"#,
            escape(&q.limit)
        ));
    }
    format!(
        r#"<form method="get" action="/dashboard/runs" class="filters" role="search" aria-label="Filter runs">
<div><label for="f-function">Function</label><select id="f-function" name="function">{fn_options}</select></div>
<div><label for="f-status">Status</label><select id="f-status" name="status">{st_options}</select></div>
<div><label for="f-event">Event name</label><input id="f-event" name="event" value="{event}" placeholder="stripe/checkout.session.completed"></div>
<div><label for="f-from">Created from (UTC)</label><input id="f-from" name="from" type="datetime-local" value="{from}"></div>
<div><label for="f-to">Created to (UTC)</label><input id="f-to" name="to" type="datetime-local" value="{to}"></div>
<div><label for="f-q">Text</label><input id="f-q" name="q" type="search" value="{text}" placeholder="run id, event, function, error"></div>
<div class="wide"><label for="f-cel">CEL over <code>event</code> and <code>output</code></label><input id="f-cel" name="cel" value="{cel}" placeholder="event.data.amount &gt; 100 &amp;&amp; output.status == &quot;ok&quot;" aria-describedby="f-cel-help"><small id="f-cel-help" class="muted">true keeps a run; credentials read as "[redacted]"</small></div>
{hidden}<div><button type="submit" id="apply-filter">Filter</button> <a href="/dashboard/runs">Clear</a></div>
</form>"#,
        event = escape(&q.event),
        from = escape(&q.from),
        to = escape(&q.to),
        text = escape(&q.q),
        cel = escape(&q.cel),
    )
}

fn counts_list(q: &RunsQuery, counts: &std::collections::BTreeMap<String, i64>) -> String {
    let total: i64 = counts.values().sum();
    let mut items = format!(
        r#"<li><a href="{}"{}>all: {total}</a></li>"#,
        escape(&q.url(&[("status", None), ("before", None)])),
        if q.status.is_empty() {
            r#" aria-current="true""#
        } else {
            ""
        }
    );
    for s in RunStatus::ALL {
        let n = counts.get(s.as_str()).copied().unwrap_or(0);
        items.push_str(&format!(
            r#"<li><a href="{}"{} id="count-{s}">{s}: {n}</a></li>"#,
            escape(&q.url(&[("status", Some(s.as_str())), ("before", None)])),
            if q.status == s.as_str() {
                r#" aria-current="true""#
            } else {
                ""
            },
            s = s.as_str(),
        ));
    }
    format!(r#"<h2 id="counts">Runs per status</h2><ul class="counts" aria-labelledby="counts">{items}</ul>"#)
}

/// A table of runs (the list, an event's runs, a run's children).
pub fn runs_table(runs: &[read::RunSummary]) -> String {
    if runs.is_empty() {
        return r#"<p id="no-runs">No runs match.</p>"#.into();
    }
    let mut rows = String::new();
    for r in runs {
        let took = match (r.started_ms, r.finished_ms) {
            (Some(s), Some(f)) => layout::duration(f - s),
            _ => String::new(),
        };
        rows.push_str(&format!(
            r#"<tr><td><a href="/dashboard/runs/{id_url}"><code>{id}</code></a></td><td>{function}</td><td>{status}</td><td>{created}</td><td>{took}</td><td><a href="/dashboard/events/{event_url}"><code>{event}</code></a></td></tr>"#,
            id_url = url_encode(&r.id),
            id = escape(&r.id),
            function = escape(&r.function_id),
            status = status_badge(&r.status),
            created = layout::time_el(r.created_ms),
            event_url = url_encode(&r.event_id),
            event = escape(&r.event_id),
        ));
    }
    format!(
        r#"<table id="runs"><caption class="muted">Newest first</caption><thead><tr><th scope="col">Run</th><th scope="col">Function</th><th scope="col">Status</th><th scope="col">Created</th><th scope="col">Took</th><th scope="col">Event</th></tr></thead><tbody>{rows}</tbody></table>"#
    )
}

/// The bulk cancel of the current filter: its fields as hidden inputs, what it will cancel in words.
fn bulk_cancel_form(
    ctx: &Ctx,
    q: &RunsQuery,
    filter: &RunFilter,
    counts: &std::collections::BTreeMap<String, i64>,
) -> String {
    let head = r#"<h2 id="bulk">Cancel runs by this filter</h2>"#;
    if !q.cel.trim().is_empty() {
        return format!(
            r#"{head}<p>A bulk cancel selects by function, status, event name and time; clear the CEL expression to use it.</p>"#
        );
    }
    if filter.text.is_some() {
        return format!(
            r#"{head}<p>A bulk cancel selects by function, status, event name and time; clear the text search to use it.</p>"#
        );
    }
    if filter.function_id.is_none()
        && filter.status.is_none()
        && filter.event_name.is_none()
        && filter.from_ms.is_none()
        && filter.to_ms.is_none()
    {
        return format!(
            r#"{head}<p>Choose a function, status, event name or time range first: a bulk cancel never selects every run.</p>"#
        );
    }
    let unfinished: Vec<RunStatus> = cancellable();
    if let Some(s) = filter.status
        && !unfinished.contains(&s)
    {
        return format!(
            r#"{head}<p>Runs with status {} have finished: nothing to cancel.</p>"#,
            s.as_str()
        );
    }
    let n: i64 = unfinished
        .iter()
        .filter(|s| filter.status.is_none_or(|f| f == **s))
        .map(|s| counts.get(s.as_str()).copied().unwrap_or(0))
        .sum();
    let hidden: String = [
        ("function", &q.function),
        ("status", &q.status),
        ("event", &q.event),
        ("from", &q.from),
        ("to", &q.to),
    ]
    .iter()
    .filter(|(_, v)| !v.trim().is_empty())
    .map(|(k, v)| format!(r#"<input type="hidden" name="{k}" value="{}">"#, escape(v)))
    .collect();
    format!(
        r#"{head}<form method="post" action="/dashboard/runs/cancel" class="stack">{csrf}{hidden}
<p>Cancels every unfinished run (queued, running, sleeping, waiting) this filter selects, created up to now: {n} at the last count.</p>
<button type="submit" class="danger" id="bulk-cancel">Cancel matching runs</button></form>"#,
        csrf = ctx.csrf_field(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> RunsQuery {
        let text: String = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", layout::url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        web::Query::<RunsQuery>::from_query(&text).unwrap().into_inner()
    }

    #[test]
    fn the_query_becomes_the_stores_filter() {
        let f = q(&[
            ("function", "napper"),
            ("status", "sleeping"),
            ("event", " test/nap "),
            ("from", "2023-11-14T22:13"),
            ("q", "  "),
            ("before", "5.abc"),
            ("limit", "2"),
        ])
        .filter()
        .unwrap();
        assert_eq!(f.function_id.as_deref(), Some("napper"));
        assert_eq!(f.status, Some(RunStatus::Sleeping));
        assert_eq!(f.event_name.as_deref(), Some("test/nap"));
        assert_eq!((f.from_ms, f.to_ms), (Some(1_699_999_980_000), None));
        assert_eq!(f.text, None, "blank text is no filter");
        assert_eq!(f.before.map(|c| c.to_string()).as_deref(), Some("5.abc"));
        assert_eq!(f.limit, 2);
        assert_eq!(q(&[]).filter().unwrap().limit, PAGE);
        for bad in [
            ("status", "nope"),
            ("limit", "0"),
            ("limit", "501"),
            ("before", "x"),
            ("to", "soon"),
        ] {
            assert!(q(&[bad]).filter().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn links_keep_the_filter_and_replace_one_field() {
        let query = q(&[("function", "a b"), ("status", "failed"), ("live", "0")]);
        assert_eq!(
            query.url(&[("status", None), ("before", Some("9.x"))]),
            "/dashboard/runs?function=a%20b&live=0&before=9.x"
        );
        assert_eq!(query.url(&[]), "/dashboard/runs?function=a%20b&status=failed&live=0");
    }
}
