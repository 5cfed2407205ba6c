//! `GET /dashboard/health`: what `GET /health` reports (the same `http::health::report`), rendered: the daemon's
//! facts, then each section — the supervisor, the pools per function, the nodes with their heartbeats, the
//! services, retention — as a table.

use super::layout::{self, Ctx, Nav, Page, escape};
use super::runs::REFRESH_SECS;
use crate::http::AppState;
use crate::http::auth::Identity;
use actix_web::{HttpRequest, web};
use serde_json::Value;

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    gate: web::Data<crate::http::guard::Gate>,
    who: Identity,
) -> Page {
    let report = crate::http::health::report(&state, &gate).await?;
    let ctx = Ctx::new(&state, &who, &req);
    let body = render(&report);
    Ok(layout::page(
        &ctx,
        "Health",
        Some(Nav::Health),
        Some(REFRESH_SECS),
        &body,
    ))
}

/// Scalars first as one list of facts, then every object or list as its own section.
pub fn render(report: &Value) -> String {
    let Value::Object(map) = report else {
        return value(report);
    };
    let mut facts = String::new();
    let mut sections = String::new();
    for (k, v) in map {
        match v {
            Value::Object(_) | Value::Array(_) => {
                let content = if k == "nodes" { nodes_table(v) } else { value(v) };
                sections.push_str(&format!(
                    r#"<section aria-labelledby="h-{id}"><h2 id="h-{id}">{label}</h2>{}</section>"#,
                    content,
                    id = escape(k),
                    label = escape(&label(k)),
                ));
            }
            _ => facts.push_str(&format!("<dt>{}</dt><dd>{}</dd>", escape(&label(k)), value(v))),
        }
    }
    format!(r#"<dl class="facts" id="health-facts">{facts}</dl>{sections}"#)
}

/// The node list (`http::health::node_list`) in a fixed column order, the heartbeat's age as a duration.
fn nodes_table(nodes: &Value) -> String {
    let Value::Array(list) = nodes else {
        return value(nodes);
    };
    if list.is_empty() {
        return r#"<span class="muted">none</span>"#.into();
    }
    let rows: String = list
        .iter()
        .map(|n| {
            let cell = |k: &str| value(n.get(k).unwrap_or(&Value::Null));
            let age = n["heartbeat_age_ms"]
                .as_i64()
                .map_or_else(|| cell("heartbeat_age_ms"), layout::duration);
            format!(
                r#"<tr id="node-{id}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                cell("id"),
                cell("this"),
                cell("state"),
                cell("started_at"),
                cell("heartbeat_at"),
                escape(&age),
                id = escape(n["id"].as_str().unwrap_or_default()),
            )
        })
        .collect();
    format!(
        r#"<table id="nodes"><thead><tr><th scope="col">Node</th><th scope="col">This node</th><th scope="col">State</th><th scope="col">Started</th><th scope="col">Last heartbeat</th><th scope="col">Heartbeat age</th></tr></thead><tbody>{rows}</tbody></table><p class="muted">Stale: no heartbeat for longer than the lease TTL; the other nodes rescue its running runs.</p>"#
    )
}

fn label(key: &str) -> String {
    let s = key.replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// Any JSON value as HTML: a list of objects as a table (their keys as columns), an object as facts, a scalar
/// as text.
fn value(v: &Value) -> String {
    match v {
        Value::Null => r#"<span class="muted">—</span>"#.into(),
        Value::String(s) => escape(s),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) => n.to_string(),
        Value::Object(map) => {
            if map.is_empty() {
                return r#"<span class="muted">none</span>"#.into();
            }
            let items: String = map
                .iter()
                .map(|(k, v)| format!("<dt>{}</dt><dd>{}</dd>", escape(&label(k)), value(v)))
                .collect();
            format!(r#"<dl class="facts">{items}</dl>"#)
        }
        Value::Array(items) => {
            if items.is_empty() {
                return r#"<span class="muted">none</span>"#.into();
            }
            if items.iter().all(Value::is_object) {
                let mut columns: Vec<&String> = Vec::new();
                for item in items {
                    if let Value::Object(m) = item {
                        for k in m.keys() {
                            if !columns.contains(&k) {
                                columns.push(k);
                            }
                        }
                    }
                }
                let head: String = columns
                    .iter()
                    .map(|c| format!(r#"<th scope="col">{}</th>"#, escape(&label(c))))
                    .collect();
                let rows: String = items
                    .iter()
                    .map(|item| {
                        let cells: String = columns
                            .iter()
                            .map(|c| format!("<td>{}</td>", value(item.get(c.as_str()).unwrap_or(&Value::Null))))
                            .collect();
                        format!("<tr>{cells}</tr>")
                    })
                    .collect();
                return format!("<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>");
            }
            let list: String = items.iter().map(|i| format!("<li>{}</li>", value(i))).collect();
            format!("<ul>{list}</ul>")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_report_renders_as_facts_and_tables_escaped() {
        let html = render(&json!({
            "status": 200,
            "database": "ok",
            "functions": [{"id": "a<b>", "queued": 1}, {"id": "c", "running": 2}],
            "supervisor": {"dropped_wakes": 0, "mailbox_capacity": 1024},
            "services": {},
        }));
        assert!(html.contains("<dt>Database</dt><dd>ok</dd>"), "{html}");
        assert!(html.contains(r#"<th scope="col">Running</th>"#), "{html}");
        assert!(html.contains("<td>a&lt;b&gt;</td>") && !html.contains("a<b>"), "{html}");
        assert!(html.contains("<dt>Dropped wakes</dt><dd>0</dd>"), "{html}");
        assert!(
            html.contains(r#"<h2 id="h-services">Services</h2><span class="muted">none</span>"#),
            "{html}"
        );
    }
}
