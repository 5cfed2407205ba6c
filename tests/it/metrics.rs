//! `GET /metrics`: scraped over HTTP, parsed with a Prometheus text parser, and checked to move as runs finish.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TEST_TOKEN, TestDb};
use ingot_actors::{FnError, FunctionDef, Trigger};
use prometheus_parse::{Scrape, Value};
use serde_json::json;
use std::collections::BTreeSet;

fn metered() -> FunctionDef {
    FunctionDef::new("metered", "Metered", |ctx| async move {
        let a: u32 = ctx.step.run("one", || async { Ok(1) }).await?;
        let b: u32 = ctx.step.run("two", || async move { Ok(a + 1) }).await?;
        Ok(json!({"b": b}))
    })
    .trigger(Trigger::event("test/metered"))
}

fn metered_fail() -> FunctionDef {
    FunctionDef::new("metered-fail", "Metered failure", |ctx| async move {
        let _: u32 = ctx.step.run("only", || async { Ok(1) }).await?;
        Err::<serde_json::Value, _>(FnError::NonRetriable("bad input".into()))
    })
    .trigger(Trigger::event("test/metered-fail"))
}

async fn scrape(base: &str) -> (String, Scrape) {
    let resp = crate::support::http_client()
        .get(format!("{base}/metrics"))
        .bearer_auth(TEST_TOKEN)
        .send()
        .await
        .expect("daemon reachable");
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = resp.text().await.expect("body");
    let parsed = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("valid Prometheus text");
    (text, parsed)
}

/// The value of the sample `name` whose labels include all of `labels` (0 if there is none).
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = s
        .samples
        .iter()
        .filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(b) => b.iter().map(|c| c.count).fold(0.0, f64::max),
            Value::Summary(_) => panic!("no summaries are exported"),
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matched several samples");
    found.first().copied().unwrap_or(0.0)
}

both!(metrics_move_as_runs_finish, metrics_move_impl);
async fn metrics_move_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = InProc::start(
        &db.url,
        vec![metered(), metered_fail()],
        &[("event_keys", "sekrit-key")],
    )
    .await;
    let base = d.api.base.clone();
    let anonymous = reqwest::get(format!("{base}/metrics")).await.expect("daemon reachable");
    assert_eq!(anonymous.status().as_u16(), 401, "/metrics is behind authentication");
    let (_, before) = scrape(&base).await;
    let fin = |s: &Scrape, f: &str, o: &str| value(s, "ingot_runs_finished_total", &[("function", f), ("outcome", o)]);
    // prometheus-parse cannot read a `}` inside a label value (`/e/{event_key}`), so the HTTP counter is checked
    // on a route without one: the drain call between the two scrapes.
    let drain = [("method", "GET"), ("route", "/api/v1/drain"), ("status", "200")];

    let (status, _) = d
        .api
        .send_raw(
            "sekrit-key",
            json!([{"name": "test/metered"}, {"name": "test/metered"}, {"name": "test/metered"}]).to_string(),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = d
        .api
        .send_raw("sekrit-key", json!({"name": "test/metered-fail"}).to_string())
        .await;
    assert_eq!(status, 200);
    d.api.drain().await;
    let (text, after) = scrape(&base).await;

    assert_eq!(
        fin(&after, "metered", "completed") - fin(&before, "metered", "completed"),
        3.0
    );
    assert_eq!(
        fin(&after, "metered", "failed") - fin(&before, "metered", "failed"),
        0.0
    );
    assert_eq!(
        fin(&after, "metered-fail", "failed") - fin(&before, "metered-fail", "failed"),
        1.0
    );
    let started = |s: &Scrape| value(s, "ingot_runs_started_total", &[("function", "metered")]);
    assert_eq!(started(&after) - started(&before), 3.0);
    let steps = |s: &Scrape| value(s, "ingot_step_duration_seconds_count", &[("function", "metered")]);
    assert_eq!(steps(&after) - steps(&before), 6.0, "two steps per run");
    let bucket_inf = |s: &Scrape| value(s, "ingot_step_duration_seconds", &[("function", "metered")]);
    assert_eq!(
        bucket_inf(&after) - bucket_inf(&before),
        6.0,
        "the +Inf bucket holds every step"
    );
    let drains = |s: &Scrape| value(s, "ingot_http_requests_total", &drain);
    assert_eq!(drains(&after) - drains(&before), 1.0, "one drain request");
    assert!(
        text.contains("route=\"/e/{event_key}\""),
        "the intake is counted under its route pattern"
    );
    assert!(value(&after, "ingot_group_commit_batch_size_count", &[]) > 0.0);
    assert!(value(&after, "ingot_claim_duration_seconds_count", &[]) > 0.0);
    assert_eq!(value(&after, "ingot_pool_slots", &[("function", "metered")]), 256.0);
    assert_eq!(value(&after, "ingot_pool_queued_runs", &[("function", "metered")]), 0.0);
    assert_eq!(value(&after, "ingot_database_up", &[]), 1.0);
    assert!(!text.contains("sekrit-key"), "no event key in /metrics");

    // The exported names are exactly the documented list (the README's table and the dashboard use it).
    let exported: BTreeSet<String> = after
        .samples
        .iter()
        .map(|s| match s.value {
            Value::Histogram(_) => format!("{}_bucket", s.metric),
            _ => s.metric.clone(),
        })
        .collect();
    let listed: BTreeSet<String> = ingot::metrics::names::sample_names().into_iter().collect();
    assert_eq!(exported, listed);
    d.stop().await;
}
