//! OpenTelemetry traces over OTLP/HTTP: a local receiver (wiremock) takes the daemon's export requests, which are
//! decoded with the OTLP protobuf definitions and checked: a trace per run (its id is the run id), a span per step
//! attempt under the run's span, the run's span linked to its event, no payload exported.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot_actors::{FnError, FunctionDef, StepError, Trigger};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn traced(flaky: Arc<AtomicUsize>) -> FunctionDef {
    FunctionDef::new("traced", "Traced", move |ctx| {
        let flaky = flaky.clone();
        async move {
            let a: u32 = ctx
                .step
                .run("charge", || async move {
                    match flaky.fetch_add(1, Ordering::SeqCst) {
                        0 => Err(StepError::retryable("card network timeout")),
                        _ => Ok(1),
                    }
                })
                .await?;
            let b: u32 = ctx.step.run("email", || async move { Ok(a + 1) }).await?;
            Ok(json!({"b": b, "secret_output": "sk_live_never_exported"}))
        }
    })
    .trigger(Trigger::event("test/traced"))
}

fn doomed() -> FunctionDef {
    FunctionDef::new("doomed", "Doomed", |ctx| async move {
        let _: u32 = ctx.step.run("only", || async { Ok(1) }).await?;
        Err::<serde_json::Value, _>(FnError::NonRetriable("bad input".into()))
    })
    .trigger(Trigger::event("test/doomed"))
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Any> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn text(span: &Span, key: &str) -> String {
    match attr(span, key) {
        Some(Any::StringValue(s)) => s.clone(),
        other => panic!("{key}: {other:?} in {}", span.name),
    }
}

both!(a_trace_per_run_a_span_per_step_attempt, traces_impl);
async fn traces_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200).insert_header("content-type", "application/x-protobuf"))
        .mount(&collector)
        .await;
    let flaky = Arc::new(AtomicUsize::new(0));
    let d = InProc::start(
        &db.url,
        vec![traced(flaky), doomed()],
        &[("otlp_endpoint", collector.uri().as_str())],
    )
    .await;
    let ids = d
        .api
        .send(json!([
            {"name": "test/traced", "id": "order-42", "data": {"card": "4242"}},
            {"name": "test/doomed"}
        ]))
        .await;
    d.api.drain().await;
    let run = d.api.runs_of_function("traced").await.remove(0);
    let doomed_run = d.api.runs_of_function("doomed").await.remove(0);
    // A graceful stop exports what is queued: no waiting on the exporter's timer.
    d.stop().await;

    let mut spans: Vec<Span> = Vec::new();
    let requests = collector.received_requests().await.expect("recording");
    assert!(!requests.is_empty(), "the daemon exported");
    for r in &requests {
        assert_eq!(r.headers["content-type"], "application/x-protobuf");
        let body = ExportTraceServiceRequest::decode(r.body.as_slice()).expect("OTLP protobuf");
        for rs in body.resource_spans {
            let resource = rs.resource.expect("resource");
            assert!(
                resource.attributes.iter().any(|kv| kv.key == "service.name"
                    && matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()), Some(Any::StringValue(s)) if s == "ingot")),
                "service.name is ingot"
            );
            spans.extend(rs.scope_spans.into_iter().flat_map(|s| s.spans));
        }
    }
    let run_id = run["id"].as_str().unwrap();
    let trace_id = hex::decode(run_id.replace('-', "")).unwrap();
    let of_run: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    let root = of_run.iter().find(|s| s.name == "run traced").expect("the run's span");
    assert!(root.parent_span_id.is_empty(), "the run's span is the root");
    assert_eq!(root.span_id, trace_id[8..].to_vec());
    assert_eq!(text(root, "ingot.run.status"), "completed");
    assert_eq!(text(root, "ingot.event.name"), "test/traced");
    assert_eq!(text(root, "ingot.event.id"), "order-42");
    assert_eq!(root.status.as_ref().map(|s| s.code), Some(StatusCode::Ok as i32));
    assert_eq!(root.links.len(), 1, "linked to its event");
    let link = &root.links[0];
    let event = ingot::telemetry::event_context("order-42");
    assert_eq!(link.trace_id, event.trace_id().to_bytes().to_vec());
    assert_eq!(link.span_id, event.span_id().to_bytes().to_vec());

    let mut attempts: Vec<(String, i64, String)> = of_run
        .iter()
        .filter(|s| s.name.starts_with("step "))
        .map(|s| {
            assert_eq!(s.parent_span_id, root.span_id, "{} is a child of the run", s.name);
            assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
            let attempt = match attr(s, "ingot.step.attempt") {
                Some(Any::IntValue(n)) => *n,
                other => panic!("attempt: {other:?}"),
            };
            (s.name.clone(), attempt, text(s, "ingot.step.status"))
        })
        .collect();
    attempts.sort();
    assert_eq!(
        attempts,
        vec![
            ("step charge".to_string(), 0, "errored".to_string()),
            ("step charge".to_string(), 1, "completed".to_string()),
            ("step email".to_string(), 0, "completed".to_string()),
        ],
        "one span per attempt, the retry included"
    );
    let errored = of_run
        .iter()
        .find(|s| s.name == "step charge" && text(s, "ingot.step.status") == "errored")
        .unwrap();
    let status = errored.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert!(status.message.contains("card network timeout"), "{}", status.message);
    assert_eq!(of_run.len(), 4, "nothing else in the run's trace");

    // The failed run: its own trace, an error status.
    let doomed_trace = hex::decode(doomed_run["id"].as_str().unwrap().replace('-', "")).unwrap();
    let doomed_root = spans
        .iter()
        .find(|s| s.trace_id == doomed_trace && s.name == "run doomed")
        .expect("the failed run's span");
    assert_eq!(text(doomed_root, "ingot.run.status"), "failed");
    let status = doomed_root.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert!(status.message.contains("bad input"));

    // Names, ids, statuses and times only: no event data, no output.
    for r in &requests {
        let raw = String::from_utf8_lossy(&r.body);
        assert!(
            !raw.contains("4242") && !raw.contains("sk_live_never_exported"),
            "a payload was exported"
        );
    }
    assert_eq!(ids.len(), 2);
}

both!(an_unreachable_collector_changes_nothing, unreachable_impl);
async fn unreachable_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    // A port nothing listens on: the exporter's requests fail; runs complete as ever and the daemon stops cleanly.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let d = InProc::start(
        &db.url,
        vec![traced(Arc::new(AtomicUsize::new(1)))],
        &[("otlp_endpoint", url.as_str())],
    )
    .await;
    d.api.send(json!({"name": "test/traced"})).await;
    d.api.drain().await;
    let run = d.api.runs_of_function("traced").await.remove(0);
    assert_eq!(run["status"], "completed");
    d.stop().await;
}
