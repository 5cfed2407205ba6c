//! `GET /dashboard/functions`: every registered function — triggers, flow control, retries, paused or not (and by
//! whom), its runs finished in the last [`WINDOW_HOURS`] h with the success rate and p50/p99 run duration
//! (`read::function_stats`, bounded) — with the pause/resume buttons and the replay form.

use super::layout::{self, Ctx, Nav, Page, escape, url_encode};
use crate::http::AppState;
use crate::http::auth::Identity;
use crate::store::actions::pauses;
use crate::store::read;
use actix_web::{HttpRequest, web};
use ingot_actors::FunctionDef;
use ingot_actors::function::Trigger;
use ingot_actors::time::now_ms;

/// The window of the figures.
pub const WINDOW_HOURS: i64 = 24;

fn triggers(def: &FunctionDef) -> String {
    def.triggers
        .iter()
        .map(|t| match t {
            Trigger::Event { event, condition } => format!(
                "<code>{}</code>{}",
                escape(event),
                condition
                    .as_deref()
                    .map(|c| format!(" if <code>{}</code>", escape(c)))
                    .unwrap_or_default()
            ),
            Trigger::Cron { schedule } => format!("cron <code>{}</code>", escape(schedule)),
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn flow(def: &FunctionDef) -> String {
    let f = &def.flow;
    let mut out: Vec<String> = Vec::new();
    for c in &f.concurrency {
        out.push(format!(
            "concurrency {}{}",
            c.limit,
            if c.key.is_some() { " per key" } else { "" }
        ));
    }
    if let Some(t) = &f.throttle {
        out.push(format!("throttle {}/{}", t.limit, humantime::format_duration(t.period)));
    }
    if let Some(r) = &f.rate_limit {
        out.push(format!(
            "rate limit {}/{}",
            r.limit,
            humantime::format_duration(r.period)
        ));
    }
    if let Some(d) = &f.debounce {
        out.push(format!("debounce {}", humantime::format_duration(d.period)));
    }
    for c in &f.cancel_on {
        out.push(format!("cancel on {}", c.event));
    }
    if let Some(t) = f.timeouts.start {
        out.push(format!("start timeout {}", humantime::format_duration(t)));
    }
    if let Some(t) = f.timeouts.finish {
        out.push(format!("finish timeout {}", humantime::format_duration(t)));
    }
    if f.priority.is_some() {
        out.push("priority".into());
    }
    if let Some(b) = &f.batch {
        out.push(format!("batches of {}", b.max_size));
    }
    if let Some(s) = &f.singleton {
        out.push(format!("singleton ({})", s.mode.as_str()));
    }
    if let Some(i) = &def.idempotency {
        out.push(format!("idempotency {i}"));
    }
    escape(&out.join("; "))
}

pub async fn list(req: HttpRequest, state: web::Data<AppState>, who: Identity) -> Page {
    let paused = pauses::paused(&state.db).await?;
    let now = now_ms();
    let stats = read::function_stats(&state.db, now - WINDOW_HOURS * 3600 * 1000).await?;
    let ctx = Ctx::new(&state, &who, &req);
    let mut defs: Vec<&FunctionDef> = state.registry.functions().map(|f| &f.def).collect();
    defs.sort_by(|a, b| a.id.cmp(&b.id));
    let csrf = ctx.csrf_field();
    let mut rows = String::new();
    for def in &defs {
        let id_url = url_encode(&def.id);
        let p = paused.get(&def.id);
        let state_cell = match p {
            Some((at, by)) => format!(
                r#"<strong class="paused">paused</strong><br><span class="muted">since {} by {}</span>"#,
                chrono::DateTime::parse_from_rfc3339(at)
                    .map(|t| layout::time(t.timestamp_millis()))
                    .unwrap_or_else(|_| escape(at)),
                escape(by)
            ),
            None => "active".into(),
        };
        let st = stats.get(&def.id).cloned().unwrap_or_default();
        let finished: i64 = st.finished.values().sum();
        let rate = st
            .success_rate()
            .map(|r| format!("{:.1} %", r * 100.0))
            .unwrap_or_else(|| "—".into());
        let pct = |v: Option<i64>| v.map(layout::duration).unwrap_or_else(|| "—".into());
        let action = if !ctx.can_act() {
            String::new()
        } else if p.is_some() {
            format!(
                r#"<form method="post" action="/dashboard/functions/{id_url}/resume" class="inline">{csrf}<button type="submit" id="resume-{id}" aria-label="Resume {name}">Resume</button></form>"#,
                id = escape(&def.id),
                name = escape(&def.name)
            )
        } else {
            format!(
                r#"<form method="post" action="/dashboard/functions/{id_url}/pause" class="inline">{csrf}<button type="submit" class="danger" id="pause-{id}" aria-label="Pause {name}">Pause</button></form>"#,
                id = escape(&def.id),
                name = escape(&def.name)
            )
        };
        rows.push_str(&format!(
            r#"<tr id="fn-{id}"><th scope="row"><a href="/dashboard/runs?function={id_url}">{id}</a><br><span class="muted">{name}</span></th><td>{triggers}</td><td>{flow}</td><td>{retries}</td><td>{state_cell}</td><td>{finished}</td><td>{rate}</td><td>{p50}</td><td>{p99}</td><td>{action}</td></tr>"#,
            id = escape(&def.id),
            name = escape(&def.name),
            triggers = triggers(def),
            flow = flow(def),
            retries = def.retries,
            p50 = pct(st.p50_ms),
            p99 = pct(st.p99_ms),
        ));
    }
    let mut body = format!(
        r#"<p>A paused function still gets a run for every event it matches; those runs are <strong>held</strong> (queued, not started) and start, oldest first, when it is resumed. Nothing is skipped. A run already executing goes on.</p>
<div class="scroll"><table id="functions"><caption class="muted">Figures: runs finished in the last {WINDOW_HOURS} h; success = completed / (completed + failed); durations from start to finish.</caption>
<thead><tr><th scope="col">Function</th><th scope="col">Triggers</th><th scope="col">Flow control</th><th scope="col">Retries</th><th scope="col">State</th><th scope="col">Finished</th><th scope="col">Success</th><th scope="col">p50</th><th scope="col">p99</th><th scope="col">Action</th></tr></thead>
<tbody>{rows}</tbody></table></div>"#
    );
    if ctx.can_act() {
        let options: String = defs
            .iter()
            .map(|d| format!(r#"<option value="{}">{}</option>"#, escape(&d.id), escape(&d.id)))
            .collect();
        body.push_str(&format!(
            r#"<h2 id="replay">Replay events</h2>
<p>Creates a new run of the function for every stored event received in the range that its triggers match now.</p>
<form method="post" action="/dashboard/functions/replay" class="stack">{csrf}
<div><label for="r-function">Function</label><select id="r-function" name="function" required>{options}</select></div>
<div><label for="r-from">Received from (UTC)</label><input id="r-from" name="from" type="datetime-local" required value="{from}"></div>
<div><label for="r-to">Received to (UTC)</label><input id="r-to" name="to" type="datetime-local" required value="{to}"></div>
<div><label for="r-event">Only events named (optional)</label><input id="r-event" name="event"></div>
<button type="submit" id="replay-submit">Replay</button></form>"#,
            from = layout::time_input(now - 3600 * 1000),
            to = layout::time_input(now + 60 * 1000),
        ));
    }
    Ok(layout::page(&ctx, "Functions", Some(Nav::Functions), None, &body))
}
