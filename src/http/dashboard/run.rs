//! `GET /dashboard/runs/{id}`: one run — its facts and links (event, function, the run it reruns, its parent, its
//! children and reruns), the actions on it (cancel, rerun, rerun from a step), the timeline of its steps (a bar
//! per step on the run's time scale; sleeps and waits striped; each step's attempts, output or error), its event's
//! payload, its output or error, and the actions recorded on it. Everything comes from the read API's queries,
//! so credentials are redacted exactly as there.

use super::layout::{self, Ctx, Nav, Page, PageError, escape, json_block, status_badge, url_encode};
use super::runs::{REFRESH_SECS, runs_table};
use crate::http::AppState;
use crate::http::auth::Identity;
use crate::http::error::ApiError;
use crate::store::actions::audit;
use crate::store::read::{self, RunView, StepView};
use actix_web::{HttpRequest, web};
use ingot_actors::run::state::RunStatus;
use ingot_actors::time::now_ms;

/// Children and reruns listed at most.
const RELATED: i64 = 100;

pub async fn show(req: HttpRequest, id: web::Path<String>, state: web::Data<AppState>, who: Identity) -> Page {
    let id = id.into_inner();
    let Some(run) = read::get_run(&state.db, &id).await? else {
        return Err(PageError(ApiError::NotFound(format!("no run {id:?}"))));
    };
    let event = read::get_event(&state.db, &run.summary.event_id).await?;
    let children = read::child_runs(&state.db, &id, RELATED).await?;
    let reruns = read::reruns_of(&state.db, &id, RELATED).await?;
    let actions = audit::of_run(&state.db, &id).await?;
    let ctx = Ctx::new(&state, &who, &req);
    let finished = RunStatus::parse(&run.summary.status).is_some_and(|s| s.is_final());

    let mut body = facts(&run, event.as_ref().map(|e| &e.event));
    if ctx.can_act() {
        body.push_str(&action_forms(&ctx, &run, finished));
    }
    body.push_str(&timeline(&run, now_ms()));
    if let Some(output) = &run.output {
        body.push_str(&format!(r#"<h2 id="output">Output</h2>{}"#, json_block(output)));
    }
    if let Some(error) = &run.error {
        body.push_str(&format!(r#"<h2 id="error">Error</h2>{}"#, json_block(error)));
    }
    body.push_str(r#"<h2 id="payload">Event payload</h2>"#);
    match &event {
        Some(e) => body.push_str(&json_block(&e.event)),
        None => body.push_str("<p>The event is no longer stored.</p>"),
    }
    if !children.is_empty() {
        body.push_str(r#"<h2 id="children">Runs it invoked</h2>"#);
        body.push_str(&runs_table(&children));
    }
    if !reruns.is_empty() {
        body.push_str(r#"<h2 id="reruns">Reruns of this run</h2>"#);
        body.push_str(&runs_table(&reruns));
    }
    body.push_str(&actions_table(&actions));
    let refresh = (!finished).then_some(REFRESH_SECS);
    let title = format!("Run {}", run.summary.id);
    Ok(layout::page(&ctx, &title, Some(Nav::Runs), refresh, &body))
}

fn run_link(id: &str) -> String {
    format!(
        r#"<a href="/dashboard/runs/{}"><code>{}</code></a>"#,
        url_encode(id),
        escape(id)
    )
}

fn facts(run: &RunView, event: Option<&serde_json::Value>) -> String {
    let s = &run.summary;
    let mut rows = vec![
        ("Status", status_badge(&s.status)),
        (
            "Function",
            format!(
                r#"<a href="/dashboard/functions#fn-{}">{}</a>"#,
                url_encode(&s.function_id),
                escape(&s.function_id)
            ),
        ),
        (
            "Event",
            format!(
                r#"<a href="/dashboard/events/{}"><code>{}</code></a> {}"#,
                url_encode(&s.event_id),
                escape(&s.event_id),
                event
                    .and_then(|e| e["name"].as_str())
                    .map(|n| format!("({})", escape(n)))
                    .unwrap_or_default()
            ),
        ),
        ("Attempt", s.attempt.to_string()),
        ("Created", layout::time_el(s.created_ms)),
    ];
    if let Some(t) = s.started_ms {
        rows.push(("Started", layout::time_el(t)));
    }
    if let Some(t) = s.finished_ms {
        rows.push(("Finished", layout::time_el(t)));
        if let Some(st) = s.started_ms {
            rows.push(("Took", layout::duration(t - st)));
        }
    }
    if let Some(k) = &run.idempotency_key {
        rows.push(("Idempotency key", format!("<code>{}</code>", escape(k))));
    }
    if let Some(r) = &run.rerun_of {
        rows.push(("Rerun of", run_link(r)));
    }
    if let Some(p) = &run.parent_run_id {
        rows.push(("Invoked by", run_link(p)));
    }
    let dl: String = rows
        .into_iter()
        .map(|(k, v)| format!("<dt>{k}</dt><dd>{v}</dd>"))
        .collect();
    format!(r#"<dl class="facts" id="facts">{dl}</dl>"#)
}

fn action_forms(ctx: &Ctx, run: &RunView, finished: bool) -> String {
    let id = url_encode(&run.summary.id);
    let csrf = ctx.csrf_field();
    let mut out = String::from(r#"<h2 id="act">Actions</h2>"#);
    if !finished {
        out.push_str(&format!(
            r#"<form method="post" action="/dashboard/runs/{id}/cancel" class="stack">{csrf}<button type="submit" class="danger" id="cancel-run">Cancel this run</button></form>"#
        ));
        out.push_str("<p>A run can be rerun once it has finished.</p>");
        return out;
    }
    out.push_str(&format!(
        r#"<form method="post" action="/dashboard/runs/{id}/rerun" class="stack">{csrf}<button type="submit" id="rerun">Rerun from the start</button></form>"#
    ));
    if !run.steps.is_empty() {
        let options: String = run
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    r#"<option value="{}">{}. {} ({})</option>"#,
                    escape(&s.id),
                    i + 1,
                    escape(&s.name),
                    escape(&s.status)
                )
            })
            .collect();
        out.push_str(&format!(
            r#"<form method="post" action="/dashboard/runs/{id}/rerun" class="stack">{csrf}
<div><label for="from-step">Rerun from step</label><select id="from-step" name="from_step">{options}</select></div>
<button type="submit" id="rerun-from-step">Rerun from this step</button>
<p class="muted">The new run keeps the completed steps before it and runs it and the ones after.</p></form>"#
        ));
    }
    out
}

/// Where a step's bar sits on the run's time scale, in percent: (left, width).
pub fn bar(t0: i64, span: i64, start: i64, end: i64) -> (f64, f64) {
    let span = span.max(1) as f64;
    let left = ((start - t0).max(0) as f64 / span * 100.0).clamp(0.0, 100.0);
    let width = ((end - start).max(0) as f64 / span * 100.0).clamp(0.0, 100.0 - left);
    (left, width)
}

fn timeline(run: &RunView, now: i64) -> String {
    let mut out = String::from(r#"<h2 id="timeline">Steps</h2>"#);
    if run.steps.is_empty() {
        out.push_str("<p>No step has run yet.</p>");
        return out;
    }
    let s = &run.summary;
    let t0 = s.started_ms.unwrap_or(s.created_ms);
    let end_of = |st: &StepView| match st.wake_ms {
        Some(w) if !is_done(&st.status) => w.max(st.finished_ms),
        _ => st.finished_ms,
    };
    let last = run.steps.iter().map(end_of).max().unwrap_or(t0);
    let t1 = s.finished_ms.unwrap_or(now).max(last);
    let span = t1 - t0;
    out.push_str(&format!(
        r#"<p class="muted">Bars on the run's time scale: {} from {} to {}. Striped: sleeping or waiting.</p>"#,
        layout::duration(span),
        layout::time(t0),
        layout::time(t1)
    ));
    let mut rows = String::new();
    for (i, st) in run.steps.iter().enumerate() {
        let pending = matches!(st.kind.as_str(), "sleep" | "wait_for_event") && st.wake_ms.is_some();
        let mut bars = String::new();
        for a in &st.history {
            let (l, w) = bar(t0, span, a.started_ms, a.finished_ms);
            bars.push_str(&format!(
                r#"<span class="{}" style="left:{l:.2}%;width:{w:.2}%" title="attempt {} {}"></span>"#,
                escape(&a.status),
                a.attempt,
                escape(&a.status)
            ));
        }
        if pending {
            let (l, w) = bar(t0, span, st.started_ms, end_of(st));
            let class = if st.kind == "sleep" { "sleep" } else { "wait" };
            bars.push_str(&format!(
                r#"<span class="{class}" style="left:{l:.2}%;width:{w:.2}%" title="{class}"></span>"#
            ));
        }
        let wake = match st.wake_ms {
            Some(w) if !is_done(&st.status) => format!("<br>resumes {}", layout::time_el(w)),
            _ => String::new(),
        };
        rows.push_str(&format!(
            r#"<tr id="step-{n}"><td>{n}. <strong>{name}</strong><br><code class="muted">{id}</code></td><td>{kind}</td><td>{status}{wake}</td><td>{attempts}</td><td>{took}</td><td class="bar"><div class="track" role="img" aria-label="{name}: {took}">{bars}</div></td></tr>"#,
            n = i + 1,
            name = escape(&st.name),
            id = escape(&st.id),
            kind = escape(&st.kind),
            status = status_badge(&st.status),
            attempts = st.attempts,
            took = layout::duration(st.duration_ms),
        ));
    }
    out.push_str(&format!(
        r#"<table class="timeline"><thead><tr><th scope="col">Step</th><th scope="col">Kind</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Took</th><th scope="col">Timeline</th></tr></thead><tbody>{rows}</tbody></table>"#
    ));
    for (i, st) in run.steps.iter().enumerate() {
        out.push_str(&format!(
            r#"<details id="step-detail-{n}"{open}><summary>Step {n}: {name} — {status}</summary>"#,
            n = i + 1,
            name = escape(&st.name),
            status = escape(&st.status),
            open = if st.error.is_some() { " open" } else { "" },
        ));
        if let Some(e) = &st.error {
            out.push_str(&format!(
                r#"<h3>Error</h3><div class="step-error">{}</div>"#,
                json_block(e)
            ));
        }
        if let Some(o) = &st.output {
            out.push_str(&format!("<h3>Output</h3>{}", json_block(o)));
        }
        let attempts: String = st
            .history
            .iter()
            .map(|a| {
                format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    a.attempt,
                    status_badge(&a.status),
                    layout::time_el(a.started_ms),
                    layout::duration(a.finished_ms - a.started_ms),
                    a.retry_at.as_deref().map(escape).unwrap_or_default(),
                    a.error
                        .as_ref()
                        .map(|e| format!("<code>{}</code>", escape(&e.to_string())))
                        .unwrap_or_default(),
                )
            })
            .collect();
        out.push_str(&format!(
            r#"<table><caption>Attempts</caption><thead><tr><th scope="col">#</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col">Took</th><th scope="col">Retry at</th><th scope="col">Error</th></tr></thead><tbody>{attempts}</tbody></table></details>"#
        ));
    }
    out
}

fn is_done(step_status: &str) -> bool {
    !matches!(step_status, "sleeping" | "waiting" | "running")
}

fn actions_table(actions: &[audit::ActionView]) -> String {
    let mut out = String::from(r#"<h2 id="actions">Actions on this run</h2>"#);
    if actions.is_empty() {
        out.push_str("<p>None.</p>");
        return out;
    }
    let rows: String = actions
        .iter()
        .map(|a| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                escape(&a.at),
                escape(&a.actor),
                escape(&a.action),
                escape(&a.params.to_string()),
                escape(&a.result.to_string())
            )
        })
        .collect();
    out.push_str(&format!(
        r#"<table id="action-list"><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Parameters</th><th scope="col">Result</th></tr></thead><tbody>{rows}</tbody></table>"#
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_sit_on_the_runs_scale_and_stay_inside_it() {
        assert_eq!(bar(1000, 1000, 1000, 1500), (0.0, 50.0));
        assert_eq!(bar(1000, 1000, 1500, 2000), (50.0, 50.0));
        // Before the start or past the end: clamped to the track.
        assert_eq!(bar(1000, 1000, 500, 3000), (0.0, 100.0));
        assert_eq!(bar(1000, 1000, 1900, 5000), (90.0, 10.0));
        // A zero span does not divide by zero.
        assert_eq!(bar(1000, 0, 1000, 1000), (0.0, 0.0));
    }
}
