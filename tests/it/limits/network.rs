//! Browser-reachable safety: a foreign `Host` (DNS rebinding) gets 421, JSON routes refuse other content types
//! (a web page's "simple" cross-site POST) with 415 and store nothing, and no answer carries CORS headers.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use serde_json::json;

async fn call(
    d: &InProc,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> reqwest::Response {
    let mut req = d
        .api
        .client()
        .request(method, format!("{}{path}", d.api.base))
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("daemon reachable")
}

both!(foreign_hosts_and_simple_requests_are_refused, network_impl);
async fn network_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let d = InProc::start(&db.url, vec![], &[("allowed_hosts", "ingot.test")]).await;
    let event = json!({"name": "misc/x"}).to_string();
    let json_ct = ("content-type", "application/json");
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    // DNS rebinding: the page's origin name reaches the loopback listener; it is not ours.
    for path in ["/api/v1/runs", "/api/v1/functions", "/api/v1/drain"] {
        let r = call(&d, get.clone(), path, &[("host", "attacker.example:80")], "").await;
        assert_eq!(r.status().as_u16(), 421, "{path}");
    }
    let r = call(
        &d,
        post.clone(),
        "/e/k",
        &[("host", "attacker.example"), json_ct],
        &event,
    )
    .await;
    assert_eq!(r.status().as_u16(), 421);
    // The probes answer any Host: an orchestrator probes the pod's own address.
    let r = call(&d, get.clone(), "/health/ready", &[("host", "10.1.2.3:8288")], "").await;
    assert_eq!(r.status().as_u16(), 200);
    // Our names: the loopback address with the port (what clients send by default) and a configured name.
    let port = d.api.base.rsplit(':').next().unwrap().to_string();
    for host in [
        format!("localhost:{port}"),
        "ingot.test".to_string(),
        format!("ingot.test:{port}"),
    ] {
        let r = call(&d, get.clone(), "/api/v1/functions", &[("host", &host)], "").await;
        assert_eq!(r.status().as_u16(), 200, "{host}");
    }
    // JSON routes take JSON only: text/plain and form bodies (what a page can send without a preflight) are 415.
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let r = call(&d, post.clone(), "/e/k", &[("content-type", ct)], &event).await;
        assert_eq!(r.status().as_u16(), 415, "{ct}");
        let r = call(&d, post.clone(), "/api/v1/runs/r1/cancel", &[("content-type", ct)], "").await;
        assert_eq!(r.status().as_u16(), 415, "cancel with {ct}");
    }
    let r = call(&d, post.clone(), "/e/k", &[], &event).await;
    assert_eq!(r.status().as_u16(), 415, "no content type");
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM events", &[]).await,
        0,
        "nothing refused was stored"
    );
    let r = call(
        &d,
        post.clone(),
        "/e/k",
        &[("content-type", "application/json; charset=utf-8")],
        &event,
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    // No CORS: neither a preflight nor an answer to a cross-origin request allows another origin.
    let origin = ("origin", "https://attacker.example");
    for r in [
        call(
            &d,
            reqwest::Method::OPTIONS,
            "/e/k",
            &[origin, ("access-control-request-method", "POST")],
            "",
        )
        .await,
        call(&d, get.clone(), "/api/v1/functions", &[origin], "").await,
        call(&d, post.clone(), "/e/k", &[origin, json_ct], &event).await,
    ] {
        assert!(
            r.headers().keys().all(|k| !k.as_str().starts_with("access-control-")),
            "{:?}",
            r.headers()
        );
    }
    d.stop().await;
}
