//! The token bucket holds a burst of 100 calls to the configured rate, measured on the fake's request log (the
//! time each request arrived), not by sleeping in the test.

use super::*;
use ingot::integrations::slack::Slack;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

/// Answers 200 and logs when each request arrived.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Instant>>>);

impl Respond for Log {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.0.lock().unwrap().push(Instant::now());
        ResponseTemplate::new(200).set_body_string("ok")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_100_calls_is_paced_to_the_configured_rate() {
    let s = fake().await;
    let log = Log::default();
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(log.clone())
        .mount(&s)
        .await;
    // 200 calls/s with a burst of 10: the first 10 go at once, then one every 5 ms. The timeout (5 s) is well above
    // the queue's wait (450 ms), so no call is told to snooze.
    let rate = RateSpec::parse("200/s:10").unwrap();
    let cfg = settings(&[("SLACK_WEBHOOK_URL", "http://unused.invalid/hook")]);
    let slack = Slack::new(
        http_with("slack", &format!("{}/hook", s.uri()), rate, Duration::from_secs(5)),
        &cfg,
    );
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let slack = slack.clone();
            tokio::spawn(async move { slack.post(&format!("message {i}"), None).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().expect("every call succeeds");
    }
    let mut arrivals = log.0.lock().unwrap().clone();
    arrivals.sort();
    assert_eq!(arrivals.len(), 100);
    let first = arrivals[0];
    let period = Duration::from_millis(5);
    // In any window between two arrivals, the bucket lets through at most `burst` plus one request per period
    // (plus one for the window's edges), wherever the window starts. Arrival times carry the network's jitter
    // (a request released earlier can arrive together with later ones, more so on a loaded 2-core machine):
    // 50 ms of it is tolerated. An unpaced burst puts all 100 within a few ms and fails by far.
    let jitter = Duration::from_millis(50);
    for i in 0..arrivals.len() {
        for j in i + 1..arrivals.len() {
            let window = arrivals[j].duration_since(arrivals[i]);
            let allowed = 10.0 + (window + jitter).as_secs_f64() / period.as_secs_f64() + 1.0;
            assert!(
                (j - i + 1) as f64 <= allowed,
                "{} requests arrived within {window:?}; the bucket allows {allowed:.1}",
                j - i + 1
            );
        }
    }
    let span = arrivals[99].duration_since(first);
    // 90 calls after the burst at 5 ms each: 450 ms, less the jitter of the first arrival.
    assert!(
        span >= Duration::from_millis(400),
        "100 calls at 200/s (burst 10) took only {span:?}"
    );
    assert!(
        span < Duration::from_secs(5),
        "the limiter is far slower than configured: {span:?}"
    );
    assert_eq!(slack.http.service.stats().calls, 100);
}
