//! The engine's figures for `/metrics`: plain atomics, updated on the hot paths without a lock and read at
//! scrape time. Rendering (the Prometheus text format) is the application's business; this module only counts.
//!
//! Per-function figures live in a map built once from the registry and never changed afterwards, so finding a
//! function's counters is a read of an immutable map.

use crate::function::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bucket bounds (seconds) for durations: a step, a claim, a commit, a service call, an HTTP request.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Bucket bounds for counts (a group-commit batch: 1 to 256 writes).
pub const SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// A histogram with fixed bucket bounds: one atomic per bucket, a count and a sum (f64 bits, compare-and-swap).
/// `observe` takes no lock.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last slot is `+Inf`.
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_bits: AtomicU64,
}

/// A histogram's figures at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound, observations in this bucket)`, not cumulative, ending with `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }

    pub fn durations() -> Histogram {
        Histogram::new(DURATION_BUCKETS)
    }

    pub fn observe(&self, value: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }

    pub fn observe_duration(&self, d: std::time::Duration) {
        self.observe(d.as_secs_f64());
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .zip(self.buckets.iter())
            .map(|(b, n)| (*b, n.load(Ordering::Relaxed)))
            .collect();
        buckets.push((f64::INFINITY, self.buckets[self.bounds.len()].load(Ordering::Relaxed)));
        // The count is the buckets' sum, so a scrape racing an observation stays consistent.
        let count = buckets.iter().map(|(_, n)| n).sum();
        HistogramSnapshot {
            buckets,
            count,
            sum: f64::from_bits(self.sum_bits.load(Ordering::Relaxed)),
        }
    }
}

/// One function's figures.
#[derive(Debug)]
pub struct FunctionMetrics {
    /// Runs this node claimed for the first time (a run starting, not resuming).
    pub runs_started: AtomicU64,
    pub runs_completed: AtomicU64,
    pub runs_failed: AtomicU64,
    pub runs_cancelled: AtomicU64,
    /// Wall time of each step attempt's code (`step.run`), successful or not.
    pub step_seconds: Histogram,
}

impl Default for FunctionMetrics {
    fn default() -> Self {
        FunctionMetrics {
            runs_started: AtomicU64::new(0),
            runs_completed: AtomicU64::new(0),
            runs_failed: AtomicU64::new(0),
            runs_cancelled: AtomicU64::new(0),
            step_seconds: Histogram::durations(),
        }
    }
}

/// The whole engine's figures; one per [`Runtime`](crate::Runtime).
#[derive(Debug)]
pub struct EngineMetrics {
    functions: BTreeMap<String, FunctionMetrics>,
    /// A pool's claim: the store's round trip from asking to having the runs.
    pub claim_seconds: Histogram,
}

impl EngineMetrics {
    pub fn new(registry: &Registry) -> EngineMetrics {
        EngineMetrics {
            functions: registry
                .functions()
                .map(|f| (f.id().to_string(), FunctionMetrics::default()))
                .collect(),
            claim_seconds: Histogram::durations(),
        }
    }

    /// A registered function's figures (`None` for an id the registry does not have).
    pub fn function(&self, id: &str) -> Option<&FunctionMetrics> {
        self.functions.get(id)
    }

    /// Every function's figures, by id.
    pub fn functions(&self) -> impl Iterator<Item = (&str, &FunctionMetrics)> {
        self.functions.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// Adds one to a counter.
pub fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Reads a counter.
pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_count_and_sum() {
        let h = Histogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.0, 1.5, 3.0, 10.0] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(1.0, 2), (2.0, 1), (f64::INFINITY, 2)]);
        assert_eq!(s.count, 5);
        assert!((s.sum - 16.0).abs() < 1e-9);
    }
}
