//! Every metric name `/metrics` exports, as a Prometheus query sees it (counters with `_total`; histograms as
//! `_bucket`, `_sum` and `_count`). The README's table and the Grafana dashboard use these names; tests check
//! both this list against a real scrape and the dashboard against this list.

pub const RUNS_STARTED: &str = "ingot_runs_started";
pub const RUNS_FINISHED: &str = "ingot_runs_finished";
pub const STEP_DURATION: &str = "ingot_step_duration_seconds";
pub const CLAIM_DURATION: &str = "ingot_claim_duration_seconds";
pub const POOL_QUEUED: &str = "ingot_pool_queued_runs";
pub const POOL_RUNNING: &str = "ingot_pool_running_runs";
pub const POOL_SLOTS: &str = "ingot_pool_slots";
pub const POOL_CLAIMED: &str = "ingot_pool_claimed_runs";
pub const WAKES_DROPPED: &str = "ingot_wakes_dropped";
pub const COMMIT_BATCH: &str = "ingot_group_commit_batch_size";
pub const COMMIT_DURATION: &str = "ingot_group_commit_duration_seconds";
pub const INTAKE_GROUP: &str = "ingot_intake_group_size";
pub const SERVICE_CALLS: &str = "ingot_service_calls";
pub const SERVICE_FAILURES: &str = "ingot_service_failures";
pub const SERVICE_RATE_LIMITED: &str = "ingot_service_rate_limited";
pub const SERVICE_HELD_BACK: &str = "ingot_service_held_back";
pub const SERVICE_BUSY: &str = "ingot_service_busy";
pub const SERVICE_DURATION: &str = "ingot_service_call_duration_seconds";
pub const SERVICE_QUEUED: &str = "ingot_service_queued_calls";
pub const SERVICE_IN_FLIGHT: &str = "ingot_service_in_flight_calls";
pub const PRUNED_ROWS: &str = "ingot_pruned_rows";
pub const PRUNE_PASSES: &str = "ingot_prune_passes";
pub const HTTP_REQUESTS: &str = "ingot_http_requests";
pub const DATABASE_UP: &str = "ingot_database_up";
pub const DB_QUERIES: &str = "ingot_db_queries";
pub const UPTIME: &str = "ingot_uptime_seconds";

/// The kind of a metric, which decides the names a query sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric family: name (as registered) and kind.
pub const ALL: &[(&str, Kind)] = &[
    (RUNS_STARTED, Kind::Counter),
    (RUNS_FINISHED, Kind::Counter),
    (STEP_DURATION, Kind::Histogram),
    (CLAIM_DURATION, Kind::Histogram),
    (POOL_QUEUED, Kind::Gauge),
    (POOL_RUNNING, Kind::Gauge),
    (POOL_SLOTS, Kind::Gauge),
    (POOL_CLAIMED, Kind::Counter),
    (WAKES_DROPPED, Kind::Counter),
    (COMMIT_BATCH, Kind::Histogram),
    (COMMIT_DURATION, Kind::Histogram),
    (INTAKE_GROUP, Kind::Histogram),
    (SERVICE_CALLS, Kind::Counter),
    (SERVICE_FAILURES, Kind::Counter),
    (SERVICE_RATE_LIMITED, Kind::Counter),
    (SERVICE_HELD_BACK, Kind::Counter),
    (SERVICE_BUSY, Kind::Counter),
    (SERVICE_DURATION, Kind::Histogram),
    (SERVICE_QUEUED, Kind::Gauge),
    (SERVICE_IN_FLIGHT, Kind::Gauge),
    (PRUNED_ROWS, Kind::Counter),
    (PRUNE_PASSES, Kind::Counter),
    (HTTP_REQUESTS, Kind::Counter),
    (DATABASE_UP, Kind::Gauge),
    (DB_QUERIES, Kind::Counter),
    (UPTIME, Kind::Gauge),
];

/// The sample names a query can use: `x_total` for a counter, `x` for a gauge, `x_bucket` / `x_sum` /
/// `x_count` for a histogram.
pub fn sample_names() -> Vec<String> {
    ALL.iter()
        .flat_map(|(name, kind)| match kind {
            Kind::Counter => vec![format!("{name}_total")],
            Kind::Gauge => vec![name.to_string()],
            Kind::Histogram => vec![format!("{name}_bucket"), format!("{name}_sum"), format!("{name}_count")],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every `ingot_*` name in a query string.
    fn names_in(query: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = query;
        while let Some(i) = rest.find("ingot_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            out.push(tail[..end].to_string());
            rest = &tail[end..];
        }
        out
    }

    fn queries(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(o) => {
                for (k, v) in o {
                    match (k.as_str(), v) {
                        ("expr" | "query", serde_json::Value::String(q)) => out.push(q.clone()),
                        _ => queries(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| queries(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_grafana_dashboard_uses_only_exported_metrics() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../deploy/grafana/ingot.json")).expect("the dashboard is JSON");
        let mut qs = Vec::new();
        queries(&dashboard, &mut qs);
        let exported: BTreeSet<String> = sample_names().into_iter().collect();
        let used: BTreeSet<String> = qs.iter().flat_map(|q| names_in(q)).collect();
        let unknown: Vec<_> = used.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "the dashboard queries metrics the daemon does not export: {unknown:?}"
        );
        for needed in [
            "ingot_runs_finished_total",
            "ingot_step_duration_seconds_bucket",
            "ingot_pool_queued_runs",
            "ingot_service_rate_limited_total",
            "ingot_pruned_rows_total",
            "ingot_http_requests_total",
        ] {
            assert!(used.contains(needed), "the dashboard shows {needed}");
        }
    }

    #[test]
    fn names_in_finds_every_metric_of_a_query() {
        assert_eq!(
            names_in("sum(rate(ingot_a_total{x=\"y\"}[5m])) / ingot_b"),
            ["ingot_a_total", "ingot_b"]
        );
    }
}
