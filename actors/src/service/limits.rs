//! Rate limits: a token bucket per service and optionally per route (governor), plus buckets the service itself
//! reported as exhausted (Discord's `X-RateLimit-*` headers and global 429s), which fail fast until they reset.

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A rate such as `50/s` or `600/m`, with an optional burst (`50/s:100`); the burst defaults to the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSpec {
    pub count: u32,
    pub per: Duration,
    pub burst: u32,
}

impl RateSpec {
    pub const fn per_second(count: u32) -> RateSpec {
        RateSpec {
            count,
            per: Duration::from_secs(1),
            burst: count,
        }
    }

    pub fn parse(s: &str) -> Result<RateSpec, String> {
        let bad = || format!("{s:?} is not a rate like 50/s, 600/m or 50/s:100 (burst)");
        let (rate, burst) = match s.trim().split_once(':') {
            Some((r, b)) => (r, Some(b.trim().parse::<u32>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let (count, unit) = rate.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        let burst = burst.unwrap_or(count);
        if count == 0 || burst == 0 {
            return Err(format!("{s:?}: the rate and burst must be at least 1"));
        }
        Ok(RateSpec { count, per, burst })
    }

    fn quota(&self) -> Quota {
        let period = (self.per / self.count).max(Duration::from_nanos(1));
        Quota::with_period(period)
            .expect("non-zero period")
            .allow_burst(NonZeroU32::new(self.burst).expect("burst >= 1"))
    }
}

impl std::fmt::Display for RateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.per.as_secs() {
            60 => "m",
            3600 => "h",
            _ => "s",
        };
        write!(f, "{}/{unit}:{}", self.count, self.burst)
    }
}

/// The limits of one service.
pub(crate) struct Limits {
    /// Time between two calls at the service's rate.
    pub(crate) period: Duration,
    service: DefaultDirectRateLimiter,
    per_route: Option<DefaultKeyedRateLimiter<String>>,
    blocked: Mutex<Blocked>,
}

#[derive(Default)]
struct Blocked {
    global: Option<Instant>,
    routes: HashMap<String, Instant>,
}

impl Limits {
    pub(crate) fn new(service: RateSpec, per_route: Option<RateSpec>) -> Limits {
        Limits {
            period: service.per / service.count,
            service: RateLimiter::direct(service.quota()),
            per_route: per_route.map(|r| RateLimiter::keyed(r.quota())),
            blocked: Mutex::new(Blocked::default()),
        }
    }

    /// Waits for the service's token bucket.
    pub(crate) async fn service_token(&self) {
        self.service.until_ready().await
    }

    /// Waits for the route's token bucket, when routes have one.
    pub(crate) async fn route_token(&self, route: &str) {
        if let Some(l) = &self.per_route {
            l.until_key_ready(&route.to_string()).await;
        }
    }

    /// How long until the route (or the whole service) may be called again, if the service said it is exhausted.
    pub(crate) fn blocked_for(&self, route: Option<&str>) -> Option<Duration> {
        let now = Instant::now();
        let mut b = self.blocked.lock().expect("limits lock");
        b.routes.retain(|_, until| *until > now);
        let global = b.global.filter(|until| *until > now);
        b.global = global;
        let route = route.and_then(|r| b.routes.get(r).copied());
        global.into_iter().chain(route).max().map(|until| until - now)
    }

    pub(crate) fn block_route(&self, route: &str, for_: Duration) {
        let until = Instant::now() + for_;
        let mut b = self.blocked.lock().expect("limits lock");
        let e = b.routes.entry(route.to_string()).or_insert(until);
        *e = (*e).max(until);
    }

    pub(crate) fn block_all(&self, for_: Duration) {
        let until = Instant::now() + for_;
        let mut b = self.blocked.lock().expect("limits lock");
        b.global = Some(b.global.map_or(until, |g| g.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rates() {
        assert_eq!(RateSpec::parse("50/s").unwrap(), RateSpec::per_second(50));
        let r = RateSpec::parse("600/m:20").unwrap();
        assert_eq!((r.count, r.per, r.burst), (600, Duration::from_secs(60), 20));
        assert_eq!(r.to_string(), "600/m:20");
        for bad in ["", "50", "0/s", "5/d", "x/s", "5/s:0", "5/s:x"] {
            assert!(RateSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn blocks_expire_and_global_covers_every_route() {
        let l = Limits::new(RateSpec::per_second(10), None);
        assert_eq!(l.blocked_for(Some("a")), None);
        l.block_route("a", Duration::from_secs(5));
        assert!(l.blocked_for(Some("a")).unwrap() > Duration::from_secs(4));
        assert_eq!(l.blocked_for(Some("b")), None);
        l.block_all(Duration::from_secs(9));
        assert!(l.blocked_for(Some("b")).unwrap() > Duration::from_secs(8));
        l.block_route("c", Duration::ZERO);
        assert!(l.blocked_for(None).is_some());
    }
}
