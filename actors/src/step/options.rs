//! Per-step overrides of the function's retry policy (inngest#3237 `step.run({id, retries})`, inngest#3738 a
//! per-step retry delay): a step that calls a flaky service may retry more, or on its own schedule, than the rest
//! of the function. Attempts are counted per step, as always; what is overridden is how many retries the step gets
//! and how long it waits before each. A service's `Retry-After` still wins over the backoff.

use crate::backoff::{Backoff, MAX_RETRY_AFTER};
use crate::function::MAX_RETRIES;
use std::time::Duration;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepOptions {
    /// Retries after the first attempt (0–20); none: the function's `retries`.
    pub retries: Option<u32>,
    /// The delay before each retry; none: the daemon's backoff (`INGOT_RETRY_BACKOFF`).
    pub backoff: Option<Backoff>,
}

impl StepOptions {
    pub fn new() -> StepOptions {
        StepOptions::default()
    }

    pub fn retries(mut self, n: u32) -> StepOptions {
        self.retries = Some(n);
        self
    }

    pub fn backoff(mut self, backoff: Backoff) -> StepOptions {
        self.backoff = Some(backoff);
        self
    }

    /// The retry count and backoff this step uses, given the function's and the daemon's.
    pub fn resolve(&self, function_retries: u32, daemon: Backoff) -> (u32, Backoff) {
        (self.retries.unwrap_or(function_retries), self.backoff.unwrap_or(daemon))
    }

    /// The bounds a function's own settings have: at most 20 retries; delays of at most 24 h, an exponential
    /// backoff starting above zero with a cap not below its start.
    pub fn check(&self) -> Result<(), String> {
        if let Some(n) = self.retries
            && n > MAX_RETRIES
        {
            return Err(format!("retries must be between 0 and {MAX_RETRIES}, got {n}"));
        }
        let too_long = |d: Duration| d > MAX_RETRY_AFTER;
        match self.backoff {
            Some(Backoff::Fixed(d)) if too_long(d) => Err(format!("a fixed backoff of {d:?} exceeds 24 h")),
            Some(Backoff::Exponential { initial, max }) if initial.is_zero() || max < initial || too_long(max) => Err(
                format!("an exponential backoff needs 0 < initial <= max <= 24 h, got {initial:?} and {max:?}"),
            ),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_overrides_only_what_it_sets() {
        let daemon = Backoff::Inngest;
        assert_eq!(StepOptions::new().resolve(3, daemon), (3, daemon));
        let fixed = Backoff::Fixed(Duration::from_millis(250));
        assert_eq!(StepOptions::new().retries(7).resolve(3, daemon), (7, daemon));
        assert_eq!(StepOptions::new().backoff(fixed).resolve(3, daemon), (3, fixed));
        assert_eq!(
            StepOptions::new().retries(0).backoff(fixed).resolve(3, daemon),
            (0, fixed)
        );
    }

    #[test]
    fn bounds_are_the_functions() {
        assert!(StepOptions::new().retries(20).check().is_ok());
        assert!(StepOptions::new().retries(21).check().unwrap_err().contains("retries"));
        let day = Duration::from_secs(24 * 3600);
        assert!(StepOptions::new().backoff(Backoff::Fixed(day)).check().is_ok());
        assert!(StepOptions::new().backoff(Backoff::Fixed(day * 2)).check().is_err());
        let exp = |initial: u64, max: u64| Backoff::Exponential {
            initial: Duration::from_millis(initial),
            max: Duration::from_millis(max),
        };
        assert!(StepOptions::new().backoff(exp(100, 1000)).check().is_ok());
        assert!(StepOptions::new().backoff(exp(0, 1000)).check().is_err());
        assert!(StepOptions::new().backoff(exp(1000, 100)).check().is_err());
    }
}
