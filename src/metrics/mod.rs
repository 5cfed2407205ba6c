//! `GET /metrics`: the daemon's figures in the Prometheus text format (version 0.0.4), rendered by the
//! `prometheus-client` crate.
//!
//! Almost everything is read at scrape time from state the daemon keeps anyway: the engine's atomics
//! ([`ingot_actors::metrics`]), the pools' figures (asked from the supervisor), queued runs (one grouped query),
//! the service actors' counters, the pruner's totals and the group-commit writer's histograms. The one figure
//! counted here is HTTP requests by method, route pattern and status ([`AppMetrics::count_request`]); the route
//! is the pattern (`/e/{event_key}`), never the concrete path, so keys stay out.
//!
//! [`names::ALL`] lists every metric name the daemon exports; the Grafana dashboard's test checks its queries
//! against it.

pub mod names;
mod render;

pub use render::{Scrape, ServiceFigures};

use crate::store::runs::writer::WriterStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::sync::Arc;

/// The labels of `ingot_http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// Figures the application keeps (the engine keeps its own in the runtime).
#[derive(Debug)]
pub struct AppMetrics {
    /// HTTP requests: a family of atomic counters (a read lock to find an existing series, a write lock only
    /// the first time a method/route/status combination is seen).
    pub http_requests: Family<HttpLabels, Counter>,
    /// The group-commit writer's batch sizes and commit times.
    pub writer: Arc<WriterStats>,
    /// Requests per intake group (every HTTP worker's [`crate::store::events::group::Intake`]).
    pub intake: Arc<crate::store::events::group::IntakeStats>,
}

impl AppMetrics {
    pub fn new(writer: Arc<WriterStats>) -> AppMetrics {
        AppMetrics {
            http_requests: Family::default(),
            writer,
            intake: Arc::default(),
        }
    }

    /// Counts one answered request. `route` must be the matched pattern, never the concrete path.
    pub fn count_request(&self, method: &str, route: &str, status: u16) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
    }
}
