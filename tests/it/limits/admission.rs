//! Admission control: request bytes and requests in flight are bounded; beyond the bound the answer is 503 with
//! Retry-After and nothing of it is stored, while requests within it succeed. Open `drain` long-polls are bounded
//! too (429). Requests are held in flight by streaming their bodies from the test.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A POST /e/k over a raw connection whose body arrives in two parts: the second only when `release` fires.
/// The task answers the response's status code.
fn held(base: &str, body: String) -> (oneshot::Sender<()>, tokio::task::JoinHandle<u16>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tx, rx) = oneshot::channel::<()>();
    let addr = base.trim_start_matches("http://").to_string();
    let task = tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /e/k HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let (first, rest) = body.split_at(body.len() / 2);
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(first.as_bytes()).await.unwrap();
        s.flush().await.unwrap();
        let _ = rx.await;
        s.write_all(rest.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await.unwrap();
        let text = String::from_utf8_lossy(&answer);
        text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
    });
    (tx, task)
}

async fn admission(d: &InProc) -> Value {
    d.api.get_ok("/health").await["admission"].clone()
}

/// Waits (no sleep: each look is a request) until `/health` shows `field` at `n`.
async fn until(d: &InProc, field: &str, n: u64) {
    for _ in 0..2_000 {
        if admission(d).await[field] == n {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{field} never reached {n}: {}", admission(d).await);
}

fn event(name: &str, pad: usize) -> String {
    json!({"name": name, "data": {"pad": "x".repeat(pad)}}).to_string()
}

both!(in_flight_requests_and_bytes_are_bounded, admission_impl);
async fn admission_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let d = InProc::start(
        &db.url,
        vec![],
        &[("max_inflight_requests", "2"), ("max_inflight_bytes", "150000")],
    )
    .await;
    // A large body in flight: another large one is refused (bytes), a small one passes.
    let (release_a, a) = held(&d.api.base, event("misc/a", 100_000));
    until(&d, "requests_in_flight", 1).await;
    let (status, body) = d.api.send_raw("k", event("misc/b", 100_000)).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("INGOT_MAX_INFLIGHT_BYTES"));
    d.api.send(json!({"name": "misc/c"})).await;
    // Two requests in flight: a third is refused (requests), whatever its size.
    let (release_e, e) = held(&d.api.base, event("misc/e", 10));
    until(&d, "requests_in_flight", 2).await;
    let resp = crate::support::http_client()
        .post(format!("{}/e/k", d.api.base))
        .header("content-type", "application/json")
        .body(json!({"name": "misc/f"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(resp.text().await.unwrap().contains("INGOT_MAX_INFLIGHT_REQUESTS"));
    // The held ones complete; what was refused stored nothing.
    release_a.send(()).unwrap();
    release_e.send(()).unwrap();
    assert_eq!((a.await.unwrap(), e.await.unwrap()), (200, 200));
    until(&d, "requests_in_flight", 0).await;
    assert_eq!(admission(&d).await["bytes_in_flight"], 0);
    let names = ["misc/a", "misc/c", "misc/e"];
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM events", &[]).await,
        names.len() as i64
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM events WHERE name IN ('misc/b', 'misc/f')",
            &[]
        )
        .await,
        0
    );
    d.stop().await;
}

/// One POST of `body`: the status, whether a `Retry-After` came with it, and the ids a 200 answered.
async fn post_event(base: String, body: String) -> (u16, bool, Vec<String>) {
    let resp = crate::support::http_client()
        .post(format!("{base}/e/k"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").is_some_and(|v| v == "1");
    let answer: Value = resp.json().await.unwrap();
    let ids = answer["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    (status, retry_after, ids)
}

both!(
    a_flood_beyond_the_limits_is_refused_and_what_is_acknowledged_is_stored,
    flood_impl
);
async fn flood_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let d = InProc::start(
        &db.url,
        vec![],
        &[("max_inflight_requests", "3"), ("max_inflight_bytes", "250000")],
    )
    .await;
    // Two large bodies held in flight fill the byte bound.
    let (release_a, a) = held(&d.api.base, event("flood/held", 100_000));
    let (release_b, b2) = held(&d.api.base, event("flood/held", 100_000));
    until(&d, "requests_in_flight", 2).await;
    // A flood of 30 large bodies at once: each is refused with Retry-After, none is stored.
    let wave: Vec<_> = (0..30)
        .map(|_| tokio::spawn(post_event(d.api.base.clone(), event("flood/refused", 100_000))))
        .collect();
    for t in wave {
        let (status, retry_after, ids) = t.await.unwrap();
        assert_eq!((status, retry_after, ids.len()), (503, true, 0));
    }
    release_a.send(()).unwrap();
    release_b.send(()).unwrap();
    assert_eq!((a.await.unwrap(), b2.await.unwrap()), (200, 200));
    until(&d, "requests_in_flight", 0).await;
    // A second flood, not held: whatever each answer, a 200 stored every id it answered and a refusal (503 with
    // Retry-After) stored nothing.
    let wave: Vec<_> = (0..30)
        .map(|i| tokio::spawn(post_event(d.api.base.clone(), event(&format!("flood/w{i}"), 60_000))))
        .collect();
    let mut acknowledged = Vec::new();
    for (i, t) in wave.into_iter().enumerate() {
        let (status, retry_after, ids) = t.await.unwrap();
        let stored = db
            .count(
                "SELECT COUNT(*) AS n FROM events WHERE name = $1",
                &[format!("flood/w{i}").as_str()],
            )
            .await;
        match status {
            200 => {
                assert_eq!((ids.len(), stored), (1, 1), "request {i}");
                acknowledged.extend(ids);
            }
            503 => assert!(retry_after && ids.is_empty() && stored == 0, "request {i}"),
            other => panic!("request {i} answered {other}"),
        }
    }
    for id in &acknowledged {
        assert_eq!(
            db.count("SELECT COUNT(*) AS n FROM events WHERE id = $1", &[id.as_str()])
                .await,
            1
        );
    }
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM events WHERE name = 'flood/refused'", &[])
            .await,
        0
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM events WHERE name = 'flood/held'", &[])
            .await,
        2
    );
    assert_eq!(admission(&d).await["bytes_in_flight"], 0);
    d.stop().await;
}

fn sleeper() -> ingot_actors::FunctionDef {
    ingot_actors::FunctionDef::new("sleeper", "Sleeper", |ctx| async move {
        ctx.step.sleep("nap", std::time::Duration::from_secs(3600)).await?;
        Ok(json!({}))
    })
    .trigger(ingot_actors::Trigger::event("test/sleep"))
}

both!(drain_long_polls_are_bounded, drain_impl);
async fn drain_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let d = InProc::start(&db.url, vec![sleeper()], &[("max_drain_polls", "1")]).await;
    d.api.send(json!({"name": "test/sleep"})).await;
    // `all=true` waits for the sleeper too: this long-poll stays open until its own time runs out.
    let api = d.api.clone();
    let open = tokio::spawn(async move { api.get("/api/v1/drain?all=true&timeout_ms=3000").await });
    until(&d, "drain_polls_open", 1).await;
    let resp = d
        .api
        .client()
        .get(format!("{}/api/v1/drain", d.api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    // Its duration is bounded: it answers 503 with what is unfinished, and gives its slot back.
    let (status, body) = open.await.unwrap();
    assert_eq!((status, body["unfinished"].as_i64()), (503, Some(1)), "{body}");
    assert_eq!(admission(&d).await["drain_polls_open"], 0);
    d.api.drain().await;
    d.stop().await;
}
