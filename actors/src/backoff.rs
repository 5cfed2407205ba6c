//! Retry schedule. The default is Inngest's table (15 s, 30 s, 1 m, 2 m, 5 m, 10 m, 20 m, 40 m, 1 h, then 2 h)
//! plus 0–30 s of random jitter. A fixed interval (like `inngest start --retry-interval`) is available for tests
//! and for operators who want fast retries.

use rand::Rng;
use std::time::Duration;

const TABLE_SECS: [u64; 10] = [15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200];
const JITTER_MS: u64 = 30_000;
/// Bounds applied to a service's `Retry-After` (Inngest's MinRetryDuration / MaxRetryDuration).
pub const MIN_RETRY_AFTER: Duration = Duration::from_secs(1);
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// Inngest's table with jitter.
    Inngest,
    /// The same delay after every failed attempt, without jitter.
    Fixed(Duration),
    /// `initial` after the first failed attempt, doubled after each next one, at most `max`; without jitter (a
    /// per-step override, [`crate::step::StepOptions`]).
    Exponential { initial: Duration, max: Duration },
}

impl Backoff {
    /// Delay before retrying after failed attempt `attempt` (0 = the first attempt failed).
    pub fn delay(&self, attempt: u32) -> Duration {
        match self {
            Backoff::Fixed(d) => *d,
            Backoff::Exponential { initial, max } => {
                let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
                initial.checked_mul(factor).map_or(*max, |d| d.min(*max))
            }
            Backoff::Inngest => {
                let base = TABLE_SECS[(attempt as usize).min(TABLE_SECS.len() - 1)];
                let jitter = rand::rng().random_range(0..=JITTER_MS);
                Duration::from_secs(base) + Duration::from_millis(jitter)
            }
        }
    }

    /// Delay for a failed attempt, honouring the service's `Retry-After` when it gave one.
    pub fn delay_for(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(d) => d.clamp(MIN_RETRY_AFTER, MAX_RETRY_AFTER),
            None => self.delay(attempt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inngest_table_with_bounded_jitter() {
        for (attempt, base) in [(0u32, 15u64), (1, 30), (3, 120), (9, 7200), (50, 7200)] {
            let d = Backoff::Inngest.delay(attempt);
            assert!(d >= Duration::from_secs(base), "{attempt}: {d:?}");
            assert!(d <= Duration::from_secs(base + 30), "{attempt}: {d:?}");
        }
    }

    #[test]
    fn exponential_doubles_up_to_its_cap() {
        let b = Backoff::Exponential {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let delays: Vec<u128> = (0..6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1), "no overflow");
        let huge = Backoff::Exponential {
            initial: Duration::from_secs(u64::MAX / 2),
            max: Duration::from_secs(60),
        };
        assert_eq!(huge.delay(40), Duration::from_secs(60), "no overflow");
    }

    #[test]
    fn retry_after_is_clamped() {
        let b = Backoff::Fixed(Duration::from_millis(5));
        assert_eq!(b.delay_for(0, None), Duration::from_millis(5));
        assert_eq!(b.delay_for(0, Some(Duration::from_millis(10))), MIN_RETRY_AFTER);
        assert_eq!(b.delay_for(0, Some(Duration::from_secs(90_000))), MAX_RETRY_AFTER);
        assert_eq!(b.delay_for(0, Some(Duration::from_secs(42))), Duration::from_secs(42));
    }
}
