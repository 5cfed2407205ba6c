//! OpenTelemetry traces over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (issue 13).
//!
//! - **A trace per run.** Its trace id is the run id (a UUID's 16 bytes) and its root span, `run <function>`, has a
//!   span id taken from the run id too, so every attempt of a run — on any node, before and after a restart, days
//!   apart across a sleep — lands in the one trace without any shared state.
//! - **A span per step attempt** (`step <name>`), a child of the run's span, from the attempt's persisted start and
//!   end, with its status (`completed`, `errored` then retried, `failed`) and error message.
//! - **Linked to its event**: the run's span carries a link to the event's span context (ids derived from the
//!   event's id, the same for every run the event started) and the event's id and name as attributes; a run
//!   started by `step.invoke` links to its parent run's span as well.
//!
//! No payload, output or header is exported: names, ids, statuses, times and error messages only.
//!
//! The engine reports on its own threads ([`ingot_actors::trace::TraceSink`]); this sink turns a report into a
//! [`SpanData`] and hands it to a bounded queue (full: the span is dropped and counted, never waited for). One
//! thread of its own exports batches with the `opentelemetry-otlp` exporter, so no engine or HTTP thread ever waits
//! on the collector. [`Otlp::shutdown`] exports what is queued before the daemon exits.

use ingot_actors::run::state::RunStatus;
use ingot_actors::trace::{RunReport, StepAttemptReport, TraceSink};
use opentelemetry::trace::{Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter, SpanLinks};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Spans waiting for the exporter thread; past this, new spans are dropped (and counted).
const QUEUE: usize = 8192;
/// Spans in one export request.
const BATCH: usize = 512;
/// How long the exporter gathers a batch after its first span.
const LINGER: Duration = Duration::from_millis(200);

enum Msg {
    Span(Box<SpanData>),
    /// Export everything before this message, then stop.
    Stop(oneshot::Sender<()>),
}

/// The daemon's OTLP trace exporter: a [`TraceSink`] for the engine.
pub struct Otlp {
    queue: mpsc::Sender<Msg>,
    scope: InstrumentationScope,
    dropped: Arc<AtomicU64>,
}

impl Otlp {
    /// Starts the exporter thread for the collector at `endpoint` (the OTLP base URL: spans go to
    /// `<endpoint>/v1/traces`, as the OpenTelemetry specification says for `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn start(endpoint: &str, node_id: &str) -> anyhow::Result<Arc<Otlp>> {
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .with_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| anyhow::anyhow!("OTLP exporter: {e}"))?;
        exporter.set_resource(
            &Resource::builder()
                .with_service_name("ingot")
                .with_attribute(KeyValue::new("service.instance.id", node_id.to_string()))
                .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        let (queue, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new().name("ingot-otlp".into()).spawn(move || {
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt.block_on(export_loop(exporter, rx)),
                Err(e) => tracing::error!(error = %e, "OTLP exporter: no runtime; traces are not exported"),
            }
        })?;
        Ok(Arc::new(Otlp {
            queue,
            scope: InstrumentationScope::builder("ingot")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
            dropped: Arc::new(AtomicU64::new(0)),
        }))
    }

    /// Exports what is queued, then stops the exporter thread (waits at most `timeout`).
    pub async fn shutdown(&self, timeout: Duration) {
        let (done, finished) = oneshot::channel();
        let stopped = async {
            if self.queue.send(Msg::Stop(done)).await.is_ok() {
                let _ = finished.await;
            }
        };
        if tokio::time::timeout(timeout, stopped).await.is_err() {
            tracing::warn!("OTLP exporter: queued spans not exported within {timeout:?}");
        }
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(dropped, "OTLP exporter: spans dropped because the queue was full");
        }
    }

    fn push(&self, span: SpanData) {
        if self.queue.try_send(Msg::Span(Box::new(span))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn span(&self, context: SpanContext, parent: SpanId, name: String, times: (i64, i64)) -> SpanData {
        SpanData {
            span_context: context,
            parent_span_id: parent,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Owned(name),
            start_time: at(times.0),
            end_time: at(times.1.max(times.0)),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: self.scope.clone(),
        }
    }
}

impl TraceSink for Otlp {
    fn step_attempt(&self, r: &StepAttemptReport<'_>) {
        let (trace_id, run_span) = run_ids(r.run_id);
        let context = sampled(trace_id, step_span_id(r.run_id, r.step_key, r.attempt));
        let mut span = self.span(
            context,
            run_span,
            format!("step {}", r.step_name),
            (r.started_at_ms, r.finished_at_ms),
        );
        span.attributes = vec![
            KeyValue::new("ingot.run.id", r.run_id.to_string()),
            KeyValue::new("ingot.function.id", r.function_id.to_string()),
            KeyValue::new("ingot.step.id", r.step_key.to_string()),
            KeyValue::new("ingot.step.attempt", i64::from(r.attempt)),
            KeyValue::new("ingot.step.status", r.status),
        ];
        span.status = match r.error {
            Some(message) => Status::error(message.to_string()),
            None => Status::Ok,
        };
        self.push(span);
    }

    fn run_finished(&self, r: &RunReport<'_>) {
        let (trace_id, run_span) = run_ids(r.run_id);
        let mut span = self.span(
            sampled(trace_id, run_span),
            SpanId::INVALID,
            format!("run {}", r.function_id),
            (r.created_at_ms, r.finished_at_ms),
        );
        let event_id = r.event["id"].as_str().unwrap_or_default();
        let event_name = r.event["name"].as_str().unwrap_or_default();
        span.attributes = vec![
            KeyValue::new("ingot.run.id", r.run_id.to_string()),
            KeyValue::new("ingot.function.id", r.function_id.to_string()),
            KeyValue::new("ingot.run.status", r.status.as_str()),
            KeyValue::new("ingot.event.id", event_id.to_string()),
            KeyValue::new("ingot.event.name", event_name.to_string()),
        ];
        let mut links = vec![Link::with_context(event_context(event_id))];
        if let Some(parent) = r.parent_run_id {
            span.attributes
                .push(KeyValue::new("ingot.run.parent_id", parent.to_string()));
            let (parent_trace, parent_span) = run_ids(parent);
            links.push(Link::with_context(sampled(parent_trace, parent_span)));
        }
        span.links.links = links;
        span.status = match (r.status, r.error) {
            (RunStatus::Completed, _) => Status::Ok,
            (_, Some(message)) => Status::error(message.to_string()),
            (status, None) => Status::error(status.as_str()),
        };
        self.push(span);
    }
}

async fn export_loop(exporter: opentelemetry_otlp::SpanExporter, mut rx: mpsc::Receiver<Msg>) {
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::new();
        let mut stop = None;
        match first {
            Msg::Span(s) => batch.push(*s),
            Msg::Stop(done) => stop = Some(done),
        }
        let linger = tokio::time::sleep(LINGER);
        tokio::pin!(linger);
        while stop.is_none() && batch.len() < BATCH {
            tokio::select! {
                m = rx.recv() => match m {
                    Some(Msg::Span(s)) => batch.push(*s),
                    Some(Msg::Stop(done)) => stop = Some(done),
                    None => break,
                },
                _ = &mut linger => break,
            }
        }
        if !batch.is_empty() {
            let n = batch.len();
            if let Err(e) = exporter.export(batch).await {
                tracing::warn!(spans = n, error = %e, "OTLP exporter: export failed; these spans are lost");
            }
        }
        if let Some(done) = stop {
            let _ = done.send(());
            return;
        }
    }
}

/// The collector's URL for a log line: without the `user:password@` part a URL may carry.
pub fn without_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            let host = rest[..end].rsplit_once('@').map_or(&rest[..end], |(_, h)| h);
            format!("{scheme}://{host}{}", &rest[end..])
        }
        None => String::new(),
    }
}

fn at(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

fn sampled(trace_id: TraceId, span_id: SpanId) -> SpanContext {
    SpanContext::new(trace_id, span_id, TraceFlags::SAMPLED, false, TraceState::default())
}

/// A run's trace id and its root span's id: the run id's 16 bytes (a UUID) and its last 8; an id that is not a
/// UUID is hashed instead.
pub fn run_ids(run_id: &str) -> (TraceId, SpanId) {
    let bytes = match uuid::Uuid::parse_str(run_id) {
        Ok(u) => *u.as_bytes(),
        Err(_) => digest(&["run", run_id])[..16].try_into().expect("16 bytes"),
    };
    let span: [u8; 8] = bytes[8..].try_into().expect("8 bytes");
    (TraceId::from_bytes(bytes), non_zero(span))
}

/// A step attempt's span id: from the run, the step's memo key and the attempt, so a report sent twice (a
/// replayed attempt) is the same span.
pub fn step_span_id(run_id: &str, step_key: &str, attempt: u32) -> SpanId {
    let d = digest(&["step", run_id, step_key, &attempt.to_string()]);
    non_zero(d[..8].try_into().expect("8 bytes"))
}

/// The span context a run's link points at for its event: derived from the event's id alone.
pub fn event_context(event_id: &str) -> SpanContext {
    let d = digest(&["event", event_id]);
    sampled(
        TraceId::from_bytes(d[..16].try_into().expect("16 bytes")),
        non_zero(d[16..24].try_into().expect("8 bytes")),
    )
}

fn digest(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

/// A span id of eight zero bytes is invalid in OpenTelemetry.
fn non_zero(mut bytes: [u8; 8]) -> SpanId {
    if bytes == [0; 8] {
        bytes[7] = 1;
    }
    SpanId::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_collector_url_are_not_logged() {
        assert_eq!(
            without_userinfo("https://user:s3cret@otel.example.com:4318/x"),
            "https://otel.example.com:4318/x"
        );
        assert_eq!(without_userinfo("http://127.0.0.1:4318"), "http://127.0.0.1:4318");
    }

    #[test]
    fn a_run_is_its_own_trace() {
        let run = "01a23a70-3a43-750b-9f1c-0f4666cade56";
        let (trace, span) = run_ids(run);
        assert_eq!(trace.to_string(), "01a23a703a43750b9f1c0f4666cade56");
        assert_eq!(span.to_string(), "9f1c0f4666cade56");
        assert_eq!(run_ids(run), (trace, span), "the same on every node and every attempt");
        let (other, _) = run_ids("not-a-uuid");
        assert_ne!(other, TraceId::INVALID);
    }

    #[test]
    fn attempts_and_events_have_their_own_stable_ids() {
        let run = "01a23a70-3a43-750b-9f1c-0f4666cade56";
        let a0 = step_span_id(run, "charge", 0);
        assert_eq!(a0, step_span_id(run, "charge", 0));
        assert_ne!(a0, step_span_id(run, "charge", 1));
        assert_ne!(a0, step_span_id(run, "charge:1", 0));
        // Length-prefixed parts: ("ab", "c") and ("a", "bc") differ.
        assert_ne!(step_span_id("ab", "c", 0), step_span_id("a", "bc", 0));
        assert_eq!(event_context("e1"), event_context("e1"));
        assert_ne!(event_context("e1").trace_id(), event_context("e2").trace_id());
        assert!(event_context("e1").is_valid());
    }
}
