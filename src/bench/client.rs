//! The producer side: events POSTed to `/e/{key}` in batches with a bounded number of requests in flight, then
//! `drain` until no run is queued or running.

use super::inproc::EVENT_KEY;
use anyhow::Context;
use futures_util::StreamExt;
use std::time::{Duration, Instant};

/// How to send: events per request and requests in flight.
#[derive(Debug, Clone, Copy)]
pub struct Sending {
    pub batch: usize,
    pub concurrency: usize,
}

/// Sends `n` events named `name` with `data(i)`, in batches, several requests at a time. Returns the wall-clock
/// time from the first request to the last answer (bodies are serialized beforehand).
pub async fn send_events(
    base: &str,
    name: &str,
    data: impl Fn(usize) -> serde_json::Value,
    n: usize,
    how: Sending,
) -> anyhow::Result<Duration> {
    send(base, |i| serde_json::json!({"name": name, "data": data(i)}), n, how).await
}

/// [`send_events`] with each whole event given by `event(i)`.
pub async fn send(
    base: &str,
    event: impl Fn(usize) -> serde_json::Value,
    n: usize,
    how: Sending,
) -> anyhow::Result<Duration> {
    let Sending { batch, concurrency } = how;
    let client = crate::tls::http_client();
    let url = format!("{base}/e/{EVENT_KEY}");
    let indexes: Vec<usize> = (0..n).collect();
    let bodies: Vec<(usize, String)> = indexes
        .chunks(batch)
        .map(|chunk| {
            let events: Vec<serde_json::Value> = chunk.iter().map(|&i| event(i)).collect();
            (chunk.len(), serde_json::Value::Array(events).to_string())
        })
        .collect();

    let started = Instant::now();
    let mut answers = futures_util::stream::iter(bodies.into_iter().enumerate())
        .map(|(k, (len, body))| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let accepted = post(&client, &url, body)
                    .await
                    .with_context(|| format!("request {k} ({len} events)"))?;
                anyhow::ensure!(
                    accepted == len,
                    "request {k}: {len} events sent, {accepted} ids answered"
                );
                Ok(accepted)
            }
        })
        .buffer_unordered(concurrency);
    let mut accepted = 0;
    while let Some(answer) = answers.next().await {
        accepted += answer?;
    }
    let elapsed = started.elapsed();
    anyhow::ensure!(accepted == n, "{n} events sent, {accepted} accepted");
    Ok(elapsed)
}

/// One request; returns how many ids the daemon answered.
pub(crate) async fn post(client: &reqwest::Client, url: &str, body: String) -> anyhow::Result<usize> {
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .context("cannot reach the daemon")?;
    let status = resp.status();
    let text = resp.text().await.context("reading the answer")?;
    anyhow::ensure!(status.is_success(), "POST /e/<key> answered {status}: {text}");
    let answer: serde_json::Value = serde_json::from_str(&text).context("the answer is not JSON")?;
    answer["ids"]
        .as_array()
        .map(Vec::len)
        .with_context(|| format!("the answer has no ids: {text}"))
}

/// Waits (up to 10 minutes) until no run is queued or running — with `suspended`, until every run is final.
/// Returns how long it took.
pub async fn drain(base: &str, suspended: bool) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let resp = crate::tls::http_client()
        .get(format!("{base}/api/v1/drain?timeout_ms=600000&all={suspended}"))
        .bearer_auth(super::inproc::TOKEN.as_str())
        .send()
        .await
        .context("cannot reach the daemon")?;
    let status = resp.status();
    let text = resp.text().await.context("reading the answer")?;
    anyhow::ensure!(
        status.is_success(),
        "runs still unfinished after 10 minutes (drain answered {status}: {text})"
    );
    Ok(started.elapsed())
}
