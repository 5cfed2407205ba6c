//! The flood scenario (issue 15, defect 2): `--flood-requests` concurrent `POST /e/{key}`, each one event of
//! about `--flood-body-bytes`, all sent at once to a daemon with `INGOT_MAX_INFLIGHT_BYTES` =
//! `--flood-inflight-bytes` and `INGOT_MAX_INFLIGHT_REQUESTS` = `--flood-inflight-requests`.
//!
//! The daemon runs as a process of its own (`ingot serve`, the bench's own executable), so its memory is only the
//! daemon's: the figures are its `VmRSS` before the flood, its `VmHWM` (peak resident size) at the end of the
//! flood, its `VmRSS` right after the last answer and again after `--flood-settle`. Printed next to them: the
//! answers by status (200 / 503 from admission control / 503 past the database deadline / 429 / other), 503s and
//! 429s without `Retry-After`, and the events found in the database afterwards: exactly the acknowledged ones
//! (each 200 answers the ids it stored; a 503 stored nothing — a deadline that passes during a `COMMIT` waits for
//! its outcome, `Db::within`; README, "Limits and failure behaviour").
//!
//! The bound (README, "Limits and failure behaviour"): peak RSS ≤ RSS before + [`BOUND_FACTOR`] × the request
//! bytes admission lets in at once, min(`INGOT_MAX_INFLIGHT_BYTES`, `INGOT_MAX_INFLIGHT_REQUESTS` × the body)
//! plus one body (a request alone is always admitted).

use super::fresh::{FreshDb, Kind};
use super::serving::Serving;
use super::{BenchArgs, inproc};
use crate::store::schema::events;
use anyhow::Context;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// The event the flood sends (no function is triggered by it: the intake alone is measured).
pub const FLOOD_EVENT: &str = "bench/flood";
/// The bound's multiple of the request bytes admitted at once (see the module's documentation).
pub const BOUND_FACTOR: u64 = 2;

/// One backend's flood.
#[derive(Debug)]
pub struct Row {
    /// Answers by status: 200, 503 from admission control, other 503s (the database deadline), 429, others.
    pub ok: usize,
    pub overloaded: usize,
    pub unavailable: usize,
    pub too_many: usize,
    pub other: BTreeMap<u16, usize>,
    /// 503 or 429 answers without a `Retry-After` header.
    pub no_retry_after: usize,
    /// Ids answered by the 200s, and events of the flood found in the database.
    pub acknowledged: usize,
    pub stored: i64,
    pub elapsed: Duration,
    pub rss_before_kib: u64,
    pub peak_kib: u64,
    pub rss_after_kib: u64,
    pub rss_settled_kib: u64,
    pub bound_kib: u64,
}

/// The bytes admission lets in at once: the byte bound or the request bound, whichever bites first, plus one body.
pub fn admitted_bytes(inflight_bytes: u64, inflight_requests: u64, body: u64) -> u64 {
    inflight_bytes.min(inflight_requests.saturating_mul(body)) + body
}

/// One event of about `bytes` bytes of JSON.
fn body(bytes: usize) -> bytes::Bytes {
    let head = format!("{{\"name\":\"{FLOOD_EVENT}\",\"data\":{{\"pad\":\"");
    let tail = "\"}}";
    let pad = bytes.saturating_sub(head.len() + tail.len());
    let mut s = String::with_capacity(head.len() + pad + tail.len());
    s.push_str(&head);
    s.extend(std::iter::repeat_n('x', pad));
    s.push_str(tail);
    bytes::Bytes::from(s)
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn memory_of(pid: u32) -> anyhow::Result<(u64, u64)> {
    super::measure::memory_kib_at(&format!("/proc/{pid}/status"))
}

/// What one request got.
struct Answer {
    status: u16,
    /// A refusal by admission control (its message names the setting).
    admission: bool,
    retry_after: bool,
    ids: usize,
}

async fn post(http: reqwest::Client, url: String, body: bytes::Bytes) -> anyhow::Result<Answer> {
    let resp = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .context("cannot reach the daemon")?;
    let status = resp.status().as_u16();
    let retry_after = resp.headers().contains_key(reqwest::header::RETRY_AFTER);
    let text = resp.text().await.context("reading the answer")?;
    let ids = if status == 200 {
        let v: serde_json::Value = serde_json::from_str(&text).context("the answer is not JSON")?;
        v["ids"].as_array().map(Vec::len).context("a 200 without ids")?
    } else {
        0
    };
    Ok(Answer {
        status,
        admission: text.contains("INGOT_MAX_INFLIGHT"),
        retry_after,
        ids,
    })
}

pub fn measure(rt: &Runtime, fresh: &FreshDb, args: &BenchArgs) -> anyhow::Result<Row> {
    let mut daemon = Serving::start(
        fresh,
        "flood",
        &[
            ("INGOT_MAX_INFLIGHT_BYTES", args.flood_inflight_bytes.to_string()),
            ("INGOT_MAX_INFLIGHT_REQUESTS", args.flood_inflight_requests.to_string()),
        ],
    )?;
    let http = crate::tls::http_client();
    rt.block_on(daemon.ready(&http))?;
    let pid = daemon.pid();
    let (rss_before_kib, _) = memory_of(pid)?;
    let payload = body(args.flood_body_bytes);
    let url = format!("{}/e/{}", daemon.base, inproc::EVENT_KEY);
    let started = Instant::now();
    let answers: Vec<anyhow::Result<Answer>> = rt.block_on(async {
        let tasks: Vec<_> = (0..args.flood_requests)
            .map(|_| tokio::spawn(post(http.clone(), url.clone(), payload.clone())))
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(
                t.await
                    .unwrap_or_else(|e| Err(anyhow::anyhow!("a sender panicked: {e}"))),
            );
        }
        out
    });
    let elapsed = started.elapsed();
    let (rss_after_kib, peak_kib) = memory_of(pid)?;
    std::thread::sleep(args.flood_settle);
    let (rss_settled_kib, _) = memory_of(pid)?;
    let mut row = Row {
        ok: 0,
        overloaded: 0,
        unavailable: 0,
        too_many: 0,
        other: BTreeMap::new(),
        no_retry_after: 0,
        acknowledged: 0,
        stored: 0,
        elapsed,
        rss_before_kib,
        peak_kib,
        rss_after_kib,
        rss_settled_kib,
        bound_kib: rss_before_kib
            + BOUND_FACTOR
                * admitted_bytes(
                    args.flood_inflight_bytes,
                    args.flood_inflight_requests,
                    payload.len() as u64,
                )
                / 1024,
    };
    for a in answers {
        let a = a?;
        match a.status {
            200 => row.ok += 1,
            503 if a.admission => row.overloaded += 1,
            503 => row.unavailable += 1,
            429 => row.too_many += 1,
            s => *row.other.entry(s).or_default() += 1,
        }
        if matches!(a.status, 503 | 429) && !a.retry_after {
            row.no_retry_after += 1;
        }
        row.acknowledged += a.ids;
    }
    row.stored = rt.block_on(async {
        let db = super::open(fresh).await?;
        let n: i64 = crate::with_conn!(&db, read, |c| {
            events::table
                .filter(events::name.eq(FLOOD_EVENT))
                .count()
                .get_result(c)
                .await?
        });
        anyhow::Ok(n)
    })?;
    daemon.stop()?;
    anyhow::ensure!(
        row.stored == row.acknowledged as i64,
        "{} events acknowledged, {} stored ({} answered 503 past the database deadline)",
        row.acknowledged,
        row.stored,
        row.unavailable
    );
    Ok(row)
}

pub fn print(args: &BenchArgs, rows: &[(Kind, Row)]) {
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!();
    println!(
        "== flood: {} concurrent POST /e/<key> of one {:.2} MiB event each; daemon in its own process with \
         INGOT_MAX_INFLIGHT_BYTES={} INGOT_MAX_INFLIGHT_REQUESTS={}; bound = rss_before + {BOUND_FACTOR} x \
         (min(inflight bytes, inflight requests x body) + one body)",
        args.flood_requests,
        args.flood_body_bytes as f64 / (1024.0 * 1024.0),
        args.flood_inflight_bytes,
        args.flood_inflight_requests
    );
    println!(
        "{:<9} {:>5} {:>7} {:>6} {:>5} {:>6} {:>8} {:>6} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "backend",
        "200",
        "503_adm",
        "503_db",
        "429",
        "other",
        "no_retry",
        "acked",
        "stored",
        "secs",
        "rss_MiB",
        "peak_MiB",
        "after_MiB",
        "settled",
        "bound_MiB",
        "verdict"
    );
    for (kind, r) in rows {
        let other: usize = r.other.values().sum();
        println!(
            "{:<9} {:>5} {:>7} {:>6} {:>5} {:>6} {:>8} {:>6} {:>7} {:>9.2} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>7}",
            kind.to_string(),
            r.ok,
            r.overloaded,
            r.unavailable,
            r.too_many,
            other,
            r.no_retry_after,
            r.acknowledged,
            r.stored,
            r.elapsed.as_secs_f64(),
            mib(r.rss_before_kib),
            mib(r.peak_kib),
            mib(r.rss_after_kib),
            mib(r.rss_settled_kib),
            mib(r.bound_kib),
            super::verdict(r.peak_kib <= r.bound_kib)
        );
        if !r.other.is_empty() {
            println!("{:<9} other statuses: {:?}", "", r.other);
        }
    }
    println!(
        "rss = VmRSS before the flood, peak = VmHWM, after = VmRSS at the last answer, settled = VmRSS {} later; \
         503_adm = refused by admission control, 503_db = past the database deadline; stored = events \
         of the flood in the database (= acked, the ids the 200s answered)",
        humantime::format_duration(args.flood_settle)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admitted_bytes_is_the_tighter_bound_plus_one_body() {
        assert_eq!(admitted_bytes(256 << 20, 256, 2_621_440), (256 << 20) + 2_621_440);
        assert_eq!(admitted_bytes(256 << 20, 10, 1_000), 11_000);
    }

    #[test]
    fn the_body_is_one_valid_event_of_the_size_asked() {
        let b = body(100_000);
        assert_eq!(b.len(), 100_000);
        let events = crate::http::intake::parse_body(&b, 1_700_000_000_000).unwrap();
        assert_eq!(events[0].name, FLOOD_EVENT);
    }
}
