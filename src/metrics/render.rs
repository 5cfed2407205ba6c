//! One scrape: the figures gathered for it, written out through `prometheus-client`'s collector interface.

use super::AppMetrics;
use super::names::*;
use crate::store::retention::Stats as PruneStats;
use ingot_actors::metrics::{HistogramSnapshot, get};
use ingot_actors::service::ServiceStats;
use ingot_actors::{PoolHealth, Runtime};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One service's figures for a scrape.
#[derive(Debug, Clone)]
pub struct ServiceFigures {
    pub stats: ServiceStats,
    pub latency: HistogramSnapshot,
}

/// Everything one scrape reports, gathered by the handler (the async parts: pools, queued runs) and rendered here.
pub struct Scrape {
    pub runtime: Arc<Runtime>,
    pub app: Arc<AppMetrics>,
    pub pools: Vec<PoolHealth>,
    /// Queued runs per function; `None` when the database did not answer.
    pub queued: Option<BTreeMap<String, i64>>,
    pub dropped_wakes: u64,
    pub services: Vec<ServiceFigures>,
    pub pruner: PruneStats,
    pub db_queries: u64,
    pub uptime_seconds: u64,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrape").finish_non_exhaustive()
    }
}

impl Scrape {
    /// The Prometheus text exposition of this scrape.
    pub fn render(self) -> String {
        let http = self.app.http_requests.clone();
        let mut registry = Registry::default();
        registry.register(
            HTTP_REQUESTS,
            "HTTP requests answered, by method, route pattern and status",
            http,
        );
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

/// A service counter: name, help, and how to read it from the stats.
type ServiceCounter = (&'static str, &'static str, fn(&ServiceStats) -> u64);

/// Writes one family: a descriptor, then one sample per label set.
fn family<'v, V>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (Labels<'v>, V)>,
) -> std::fmt::Result
where
    V: Sample,
{
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, v) in samples {
        v.write(m.encode_family(&labels)?)?;
    }
    Ok(())
}

trait Sample {
    fn write(&self, m: prometheus_client::encoding::MetricEncoder) -> std::fmt::Result;
}

struct C(u64);
struct G(i64);

impl Sample for C {
    fn write(&self, m: prometheus_client::encoding::MetricEncoder) -> std::fmt::Result {
        ConstCounter::new(self.0).encode(m)
    }
}

impl Sample for G {
    fn write(&self, m: prometheus_client::encoding::MetricEncoder) -> std::fmt::Result {
        ConstGauge::new(self.0).encode(m)
    }
}

impl Sample for HistogramSnapshot {
    fn write(&self, mut m: prometheus_client::encoding::MetricEncoder) -> std::fmt::Result {
        m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let engine = &self.runtime.metrics;
        let fns: Vec<_> = engine.functions().collect();
        family(
            &mut enc,
            RUNS_STARTED,
            "Runs this node started (claimed for the first time), by function",
            MetricType::Counter,
            fns.iter()
                .map(|(id, m)| (vec![("function", *id)], C(get(&m.runs_started)))),
        )?;
        family(
            &mut enc,
            RUNS_FINISHED,
            "Runs this node finished, by function and outcome (completed, failed, cancelled)",
            MetricType::Counter,
            fns.iter().flat_map(|(id, m)| {
                [
                    ("completed", &m.runs_completed),
                    ("failed", &m.runs_failed),
                    ("cancelled", &m.runs_cancelled),
                ]
                .map(|(outcome, n)| (vec![("function", *id), ("outcome", outcome)], C(get(n))))
            }),
        )?;
        family(
            &mut enc,
            STEP_DURATION,
            "Time a step attempt's code ran, by function",
            MetricType::Histogram,
            fns.iter()
                .map(|(id, m)| (vec![("function", *id)], m.step_seconds.snapshot())),
        )?;
        family(
            &mut enc,
            CLAIM_DURATION,
            "Time a pool's claim took, from asking the store to having the runs",
            MetricType::Histogram,
            [(vec![], engine.claim_seconds.snapshot())],
        )?;
        if let Some(queued) = &self.queued {
            family(
                &mut enc,
                POOL_QUEUED,
                "Runs waiting in the queue (status queued, due or not), by function",
                MetricType::Gauge,
                self.pools.iter().map(|p| {
                    let n = queued.get(&p.function_id).copied().unwrap_or(0);
                    (vec![("function", p.function_id.as_str())], G(n))
                }),
            )?;
        }
        family(
            &mut enc,
            POOL_RUNNING,
            "Runs executing in this node's pool, by function",
            MetricType::Gauge,
            self.pools
                .iter()
                .map(|p| (vec![("function", p.function_id.as_str())], G(p.running as i64))),
        )?;
        family(
            &mut enc,
            POOL_SLOTS,
            "Slots of this node's pool (runs it may execute at once), by function",
            MetricType::Gauge,
            self.pools
                .iter()
                .map(|p| (vec![("function", p.function_id.as_str())], G(p.slots as i64))),
        )?;
        family(
            &mut enc,
            POOL_CLAIMED,
            "Runs this node's pool claimed (first starts and resumptions), by function",
            MetricType::Counter,
            self.pools
                .iter()
                .map(|p| (vec![("function", p.function_id.as_str())], C(p.claimed_total))),
        )?;
        family(
            &mut enc,
            WAKES_DROPPED,
            "Wake-ups dropped because the supervisor's mailbox was full (the poll finds the work)",
            MetricType::Counter,
            [(vec![], C(self.dropped_wakes))],
        )?;
        family(
            &mut enc,
            COMMIT_BATCH,
            "Writes (step attempts, run transitions) applied per group-commit transaction",
            MetricType::Histogram,
            [(vec![], self.app.writer.batch_size.snapshot())],
        )?;
        family(
            &mut enc,
            COMMIT_DURATION,
            "Time one group-commit transaction took",
            MetricType::Histogram,
            [(vec![], self.app.writer.commit_seconds.snapshot())],
        )?;
        family(
            &mut enc,
            INTAKE_GROUP,
            "Intake requests stored per transaction (concurrent requests share one)",
            MetricType::Histogram,
            [(vec![], self.app.intake.group_size.snapshot())],
        )?;
        self.encode_services(&mut enc)?;
        self.encode_pruner(&mut enc)?;
        family(
            &mut enc,
            DATABASE_UP,
            "1 if the database answered this scrape's query, else 0",
            MetricType::Gauge,
            [(vec![], G(i64::from(self.queued.is_some())))],
        )?;
        family(
            &mut enc,
            DB_QUERIES,
            "Statements sent by this process's pooled database connections",
            MetricType::Counter,
            [(vec![], C(self.db_queries))],
        )?;
        family(
            &mut enc,
            UPTIME,
            "Seconds since the daemon started",
            MetricType::Gauge,
            [(vec![], G(self.uptime_seconds as i64))],
        )
    }
}

impl Scrape {
    fn encode_services(&self, enc: &mut DescriptorEncoder) -> std::fmt::Result {
        let s = &self.services;
        let counters: [ServiceCounter; 5] = [
            (SERVICE_CALLS, "Calls that went out to the service", |s| s.calls),
            (SERVICE_FAILURES, "Calls that failed (any error)", |s| s.failures),
            (SERVICE_RATE_LIMITED, "Calls the service answered with 429", |s| {
                s.rate_limited
            }),
            (
                SERVICE_HELD_BACK,
                "Calls refused before calling: the service had reported its bucket exhausted",
                |s| s.held_back,
            ),
            (
                SERVICE_BUSY,
                "Calls refused because the service actor's mailbox was full",
                |s| s.busy,
            ),
        ];
        for (name, help, value) in counters {
            family(
                enc,
                name,
                help,
                MetricType::Counter,
                s.iter()
                    .map(|f| (vec![("service", f.stats.name.as_str())], C(value(&f.stats)))),
            )?;
        }
        family(
            enc,
            SERVICE_DURATION,
            "Time the calls that went out took, by service",
            MetricType::Histogram,
            s.iter()
                .map(|f| (vec![("service", f.stats.name.as_str())], f.latency.clone())),
        )?;
        family(
            enc,
            SERVICE_QUEUED,
            "Calls waiting in the service actor's mailbox",
            MetricType::Gauge,
            s.iter()
                .map(|f| (vec![("service", f.stats.name.as_str())], G(f.stats.queued as i64))),
        )?;
        family(
            enc,
            SERVICE_IN_FLIGHT,
            "Calls under way",
            MetricType::Gauge,
            s.iter()
                .map(|f| (vec![("service", f.stats.name.as_str())], G(f.stats.in_flight as i64))),
        )
    }

    fn encode_pruner(&self, enc: &mut DescriptorEncoder) -> std::fmt::Result {
        let total = serde_json::to_value(self.pruner.total).unwrap_or_default();
        let tables: Vec<(String, u64)> = total
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0))).collect())
            .unwrap_or_default();
        family(
            enc,
            PRUNED_ROWS,
            "Rows the retention pruner removed since start, by table",
            MetricType::Counter,
            tables.iter().map(|(t, n)| (vec![("table", t.as_str())], C(*n))),
        )?;
        family(
            enc,
            PRUNE_PASSES,
            "Passes the retention pruner made since start",
            MetricType::Counter,
            [(vec![], C(self.pruner.passes))],
        )
    }
}
